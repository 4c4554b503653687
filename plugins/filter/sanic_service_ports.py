"""Preflight's check of ports: each TCP port on a host is held by one program, a service or
another program the inventory places there."""

import re

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.addresses import (
    is_host_name,
    is_ip_literal,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    quoted,
    service_label,
)

from app_instrumentation.settings import PORT


def listen_port(address) -> int | None:
    """The port of a program's listen address: host:port (IPv6 host in brackets), :port or a bare
    port; None when it is none of these, or its host is neither an IP literal nor a name."""
    text = str(address).strip()
    if re.fullmatch(r"[0-9]{1,5}", text):
        host, port = "", text
    else:
        host, separator, port = text.rpartition(":")
        if not separator or not re.fullmatch(r"[0-9]{1,5}", port):
            return None
        if host.startswith("["):
            if not (host.endswith("]") and is_ip_literal(host) and ":" in host):
                return None
        elif ":" in host or (host and not (is_ip_literal(host) or is_host_name(host))):
            return None
    number = int(port)
    return number if 1 <= number <= 65535 else None


def _port(value) -> int | None:
    """The port, None when the settings table refuses it (the settings check reports that)."""
    return None if PORT.refusal(value) else PORT.rule(str(value))


def host_listeners(listeners: list[dict], host: str, groups: dict, host_vars: dict) -> list[dict]:
    """The other programs the inventory places on this host: each entry of
    sanic_service_host_listeners whose group holds the host, with its listen address read from
    the host's variable (else the entry's default)."""
    found = []
    for listener in listeners:
        if host in (groups.get(listener["group"]) or []):
            variable = listener["variable"]
            value = host_vars.get(variable)
            found.append(
                {
                    "name": listener["name"],
                    "variable": variable,
                    "value": listener.get("default") if value is None else value,
                }
            )
    return found


def port_errors(services: list[dict], host: str, listeners: list[dict]) -> list[str]:
    """Every port on the host is held by one program: each service's, and each other program's
    the inventory places on the host (`host_listeners`); a service's port the settings table
    refuses is the settings check's to report."""
    errors = []
    held = {}
    for listener in listeners:
        port = listen_port(listener["value"])
        if port is None:
            errors.append(
                f"{host}: {listener['variable']} = {quoted(listener['value'])} is not allowed; use"
                " host:port with an IP address ([...] for IPv6), a host name or nothing before the"
                " colon, and a port in 1-65535, e.g. 0.0.0.0:9090"
            )
        elif port in held:
            other = held[port]
            errors.append(
                f"{host}: {listener['variable']} = {quoted(listener['value'])} uses port {port}, as"
                f" does {other['variable']} = {quoted(other['value'])}; allowed: a port of its own"
                " for each program on the host"
            )
        else:
            held[port] = listener
    for service in services:
        port = _port(service["port"])
        if port is None:
            continue
        sharing = [other["name"] for other in services if _port(other["port"]) == port]
        if len(sharing) > 1:
            errors.append(
                f"{host}: {service_label(service)}.port = {port} is used by services"
                f" {' and '.join(sharing)}; each service needs its own port"
            )
        if port in held:
            listener = held[port]
            errors.append(
                f"{host}: {service_label(service)}.port = {port} is held by {listener['name']}"
                f" on this host ({listener['variable']} = {quoted(listener['value'])}); use a port"
                " no other program of the inventory listens on"
            )
    return errors


def port_holder_errors(port_holders: list[dict], host: str) -> list[str]:
    """Each service's port is free on the host, or held by the service itself: `port_holders` is
    preflight's read of the host (files/host_reads.py), {"port", "name", "holders"} per service."""
    return [
        f"{host}: sanic_services[name={report['name']}].port = {report['port']} is already held on"
        f" the host by {', '.join(report['holders'])}; use a port no other program listens on, or"
        " stop that program first"
        for report in port_holders
        if report["holders"]
    ]


class FilterModule:
    def filters(self):
        return {
            "sanic_service_listeners_on": host_listeners,
        }
