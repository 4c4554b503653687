"""Addresses as the roles write and check them: IP literals, host names, listen addresses."""

import ipaddress
import re

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


def is_ip_literal(address: str) -> bool:
    """An IPv4 or IPv6 address, IPv6 with or without a pair of brackets."""
    text = str(address)
    bracketed = text.startswith("[") and text.endswith("]")
    try:
        literal = ipaddress.ip_address(text[1:-1] if bracketed else text)
    except ValueError:
        return False
    return literal.version == 6 or not bracketed


def listenable(address: str) -> bool:
    """True for what a socket unit can listen on: an IP literal (IPv6 with or without brackets),
    or "" for every address."""
    return address == "" or is_ip_literal(address)


def is_host_name(name: str) -> bool:
    """A DNS name by RFC 1123 (labels of letters, digits and inner '-'); not an IP literal."""
    name = str(name)
    return bool(HOST_NAME.match(name)) and not re.fullmatch(r"[0-9.]+", name)


def listens_everywhere(services: list[dict]) -> bool:
    """True if a service binds every address, so Prometheus scrapes it at the host's address."""
    return any(str(service["bind_address"]) in ANY_ADDRESSES for service in services)
