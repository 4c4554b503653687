"""The one place where a service's settings and derived names are computed.

`sanic_service_resolve` turns the inventory's `sanic_services` into the list every task, template,
Molecule verify play and docs test reads: each key an item leaves out takes its role default, and
every name derived from the service (unit, paths, user, the addresses the health gate and
Prometheus use) is added here and nowhere else.

The network filters read METRICS_ALLOWED_NETWORKS with app_instrumentation's own parser, loaded
from the source tree the role deploys, so preflight refuses exactly what the service would refuse.
"""

import importlib.util
import ipaddress
from functools import cache
from pathlib import Path

# Bind addresses that mean "every local address": the gate scrapes them over IPv4 loopback, which
# a dual-stack "::" socket accepts too, and Prometheus reaches them at the host's own address.
ANY_ADDRESSES = frozenset({"0.0.0.0", "::", ""})
LOOPBACK = "127.0.0.1"


def url_host(address: str) -> str:
    """The address as written in a URL or a Prometheus target: IPv6 literals in brackets."""
    try:
        literal = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    return f"[{literal}]" if literal.version == 6 else str(literal)


def listenable(address: str) -> bool:
    """True for what a socket unit can listen on: an IP literal (IPv6 with or without brackets),
    or "" for every address."""
    if address == "":
        return True
    try:
        ipaddress.ip_address(str(address).strip("[]"))
    except ValueError:
        return False
    return True


def listen_stream(bind_address: str, port: int) -> str:
    """systemd's ListenStream= for the address: a bare port for "" listens on every address,
    IPv4 and IPv6 alike; "::" does too (the socket unit sets BindIPv6Only=both)."""
    return str(port) if bind_address == "" else f"{url_host(bind_address)}:{port}"


def resolve_services(
    services: list[dict],
    *,
    bind_address: str,
    workers: int,
    socket_backlog: int,
    requirements_file: str,
    metrics_path: str,
    instrumentation: str,
    environment: dict,
    install_root: str,
    host_address: str,
    inventory_hostname: str,
) -> list[dict]:
    """Each service with its defaults filled in and every derived name added.

    The keyword arguments are the role variables `sanic_service_<keyword>` (tasks/resolve.yml
    passes them; the docs test reads this signature), plus the host's address and inventory name.
    """
    resolved = []
    for item in services:
        name = item["name"]
        service = {
            "bind_address": bind_address,
            "workers": workers,
            "user": name,
            "group": name,
            "requirements_file": requirements_file,
            "multiproc_dir": f"/dev/shm/prom_{name}",
            "metrics_path": metrics_path,
            "instrumentation": instrumentation,
            "socket_backlog": socket_backlog,
            **item,
        }
        address = str(service["bind_address"])
        listens_everywhere = address in ANY_ADDRESSES
        service.update(
            environment={**environment, **(item.get("environment") or {})},
            unit_name=f"sanic-{name}.service",
            unit_path=f"/etc/systemd/system/sanic-{name}.service",
            socket_name=f"sanic-{name}.socket",
            socket_path=f"/etc/systemd/system/sanic-{name}.socket",
            listen_stream=listen_stream(address, service["port"]),
            tmpfiles_path=f"/etc/tmpfiles.d/sanic-{name}.conf",
            install_dir=f"{install_root}/{name}",
            # The health gate scrapes from the host itself.
            gate_address=LOOPBACK if listens_everywhere else url_host(address),
            scrape_target="{}:{}".format(
                url_host(host_address if listens_everywhere else address), service["port"]
            ),
            scrape_instance=f"{inventory_hostname}:{service['port']}",
        )
        resolved.append(service)
    return resolved


@cache
def _access_module(instrumentation_source: str):
    path = Path(instrumentation_source) / "src" / "app_instrumentation" / "access.py"
    spec = importlib.util.spec_from_file_location("sanic_service_deployed_access", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invalid_networks(networks: str, instrumentation_source: str) -> list[str]:
    """The comma-separated entries the service would refuse at start."""
    access = _access_module(instrumentation_source)
    invalid = []
    for part in access.split_networks(str(networks)):
        try:
            access.parse_network(part)
        except ValueError:
            invalid.append(part)
    return invalid


def networks_admit(networks: str, address: str, instrumentation_source: str) -> bool:
    """True if a scrape from `address` passes the service's network check (none set admits all)."""
    access = _access_module(instrumentation_source)
    parts = access.split_networks(str(networks))
    if not parts:
        return True
    bad = invalid_networks(networks, instrumentation_source)
    valid = tuple(access.parse_network(part) for part in parts if part not in bad)
    return access.address_in_networks(address.strip("[]"), valid)


class FilterModule:
    def filters(self):
        return {
            "sanic_service_resolve": resolve_services,
            "sanic_service_listenable": listenable,
            "sanic_service_invalid_networks": invalid_networks,
            "sanic_service_networks_admit": networks_admit,
        }
