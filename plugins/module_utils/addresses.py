"""Addresses as the roles write and check them: IP literals, host names, listen addresses."""

import ipaddress
import re

# The settings table's: an IPv4 or IPv6 address, IPv6 with or without a pair of brackets.
from app_instrumentation.setting_rules import is_ip_literal as is_ip_literal
from app_instrumentation.settings import BIND_ADDRESS

# Bind addresses that mean "every local address": the gate scrapes them over IPv4 loopback, which
# a dual-stack "::" socket accepts too, and Prometheus reaches them at the host's own address.
ANY_ADDRESSES = frozenset({"0.0.0.0", "::", ""})
LOOPBACK = "127.0.0.1"

LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}\.?$){LABEL}(\.{LABEL})*\.?$")


def url_host(address: str) -> str:
    """The address as written in a URL or a Prometheus target: IPv6 literals in brackets."""
    try:
        literal = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    return f"[{literal}]" if literal.version == 6 else str(literal)


def listenable(address: str) -> bool:
    """True for what a socket unit can listen on: the settings table's rule of bind_address."""
    return BIND_ADDRESS.refusal(address) is None


def is_host_name(name: str) -> bool:
    """A DNS name by RFC 1123 (labels of letters, digits and inner '-'); not an IP literal."""
    name = str(name)
    return bool(HOST_NAME.match(name)) and not re.fullmatch(r"[0-9.]+", name)


def listens_everywhere(services: list[dict]) -> bool:
    """True if a service binds every address, so Prometheus scrapes it at the host's address."""
    return any(str(service["bind_address"]) in ANY_ADDRESSES for service in services)
