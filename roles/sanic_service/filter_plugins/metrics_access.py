"""Filters that read METRICS_ALLOWED_NETWORKS the way app_instrumentation.access does."""

import ipaddress


def _parts(networks: str) -> list[str]:
    return [part.strip() for part in str(networks).split(",") if part.strip()]


def invalid_networks(networks: str) -> list[str]:
    """The comma-separated entries that app_instrumentation would refuse at start."""
    invalid = []
    for part in _parts(networks):
        try:
            ipaddress.ip_network(part)
        except ValueError:
            invalid.append(part)
    return invalid


def networks_admit(networks: str, address: str) -> bool:
    """True if a scrape from `address` passes the network check (an empty list admits all)."""
    parts = _parts(networks)
    if not parts:
        return True
    client = ipaddress.ip_address(address.strip("[]"))
    return any(client in ipaddress.ip_network(part) for part in parts if not invalid_networks(part))


class FilterModule:
    def filters(self):
        return {
            "sanic_service_invalid_networks": invalid_networks,
            "sanic_service_networks_admit": networks_admit,
        }
