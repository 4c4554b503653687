"""Preflight's checks of where the services listen and who may scrape them.

Bind addresses are IP literals; the host's address is an IP literal or a host name, resolved on
the host. METRICS_ALLOWED_NETWORKS is read with app_instrumentation's own parser (the package is
installed on the control node), so preflight refuses exactly what the service would refuse.
"""

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.addresses import (
    is_host_name,
    is_ip_literal,
    listenable,
    listens_everywhere,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    quoted,
    service_label,
)

from app_instrumentation import access


def address_errors(services: list[dict], host: str, host_address: str) -> list[str]:
    """Bind addresses are IP literals (systemd's ListenStream= takes no names); the host's address,
    where Prometheus scrapes a service bound to every address, is an IP literal or a host name."""
    errors = []
    for service in services:
        if not listenable(service["bind_address"]):
            errors.append(
                f"{host}: {service_label(service)}.bind_address = {quoted(service['bind_address'])}"
                " is not allowed; use an IPv4 or IPv6 address of this host (e.g. 127.0.0.1,"
                " 0.0.0.0, ::1) or '' or '::' for every IPv4 and IPv6 address (systemd's"
                " ListenStream= takes no host names)"
            )
    if listens_everywhere(services) and not (
        is_ip_literal(host_address) or is_host_name(host_address)
    ):
        errors.append(
            f"{host}: ansible_host (else the inventory name) = {quoted(host_address)} is not"
            " allowed; use an IPv4 or IPv6 address or a host name Prometheus can resolve"
        )
    return errors


def scrape_host_names(services: list[dict], host_address: str) -> list[str]:
    """The host names (not IP literals) Prometheus scrapes this host's services at: they must
    resolve (preflight resolves them on the host). Empty when no service listens everywhere."""
    if listens_everywhere(services) and is_host_name(host_address):
        return [host_address]
    return []


def invalid_networks(networks: str) -> list[str]:
    """The comma-separated entries the service would refuse at start."""
    invalid = []
    for part in access.split_networks(str(networks)):
        try:
            access.parse_network(part)
        except ValueError:
            invalid.append(part)
    return invalid


def networks_admit(networks: str, address: str) -> bool:
    """True if a scrape from `address` passes the service's network check (none set admits all)."""
    parts = access.split_networks(str(networks))
    if not parts:
        return True
    bad = invalid_networks(networks)
    valid = tuple(access.parse_network(part) for part in parts if part not in bad)
    return access.address_in_networks(address.strip("[]"), valid)


class FilterModule:
    def filters(self):
        return {
            "sanic_service_address_errors": address_errors,
            "sanic_service_scrape_host_names": scrape_host_names,
            "sanic_service_invalid_networks": invalid_networks,
            "sanic_service_networks_admit": networks_admit,
        }
