"""Preflight's checks of where Prometheus reaches the services and who may scrape them.

The host's address is an IP literal or a host name, resolved on the host (bind addresses and
METRICS_ALLOWED_NETWORKS themselves are checked by the settings table's rules:
sanic_service_settings.py). The health gate must pass the service's own network check.
"""

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.addresses import (
    is_host_name,
    is_ip_literal,
    listens_everywhere,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    quoted,
)

from app_instrumentation import access
from app_instrumentation.setting_rules import split_networks
from app_instrumentation.settings import ALLOWED_NETWORKS


def address_errors(services: list[dict], host: str, host_address: str) -> list[str]:
    """The host's address, where Prometheus scrapes a service bound to every address, is an IP
    literal or a host name."""
    if listens_everywhere(services) and not (
        is_ip_literal(host_address) or is_host_name(host_address)
    ):
        return [
            f"{host}: ansible_host (else the inventory name) = {quoted(host_address)} is not"
            " allowed; use an IPv4 or IPv6 address or a host name Prometheus can resolve"
        ]
    return []


def scrape_host_names(services: list[dict], host_address: str) -> list[str]:
    """The host names (not IP literals) Prometheus scrapes this host's services at: they must
    resolve (preflight resolves them on the host). Empty when no service listens everywhere."""
    if listens_everywhere(services) and is_host_name(host_address):
        return [host_address]
    return []


def unresolved_name_errors(unresolved: list[str], host: str) -> list[str]:
    """The host names Prometheus scrapes this host at (scrape_host_names) that the host's own
    resolver did not resolve (preflight's read of the host)."""
    return [
        f"{host}: ansible_host (else the inventory name) = {quoted(name)} does not resolve on the"
        " host, and Prometheus scrapes its services listening on every address there; allowed: an"
        " IP address, or a host name the hosts resolve (DNS or /etc/hosts)"
        for name in unresolved
    ]


def networks_errors(services: list[dict], host: str) -> list[str]:
    """Each service's allowed networks admit its health gate, which scrapes from gate_address."""
    errors = []
    for service in services:
        networks = service["environment"].get("METRICS_ALLOWED_NETWORKS", "")
        if not networks_admit(networks, service["gate_address"]):
            errors.append(
                f"{host}: sanic_services[name={service['name']}].environment"
                f".METRICS_ALLOWED_NETWORKS = {quoted(networks)} is not allowed; use"
                f" comma-separated CIDRs that include {service['gate_address']}/32,"
                " where the deploy's health gate scrapes from"
            )
    return errors


def networks_admit(networks: str, address: str) -> bool:
    """True if a scrape from `address` passes the service's network check (none set admits all);
    entries the settings table refuses (the settings check reports them) are left out."""
    parts = split_networks(str(networks))
    if not parts:
        return True
    valid = tuple(
        network
        for part in parts
        if ALLOWED_NETWORKS.refusal(part) is None
        for network in ALLOWED_NETWORKS.rule(part)
    )
    return access.address_in_networks(address.strip("[]"), valid)
