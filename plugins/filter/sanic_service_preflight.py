"""Preflight in two judgements, each one task: what the control node can tell before touching the
host (`sanic_service_preflight_errors`), then what one read of the host tells
(`sanic_service_host_read_request` builds that read's argument for files/host_reads.py,
`sanic_service_host_errors` judges its answer). They were some twenty tasks per host, each a
worker run, most of them an assert over a loop. The checks themselves live by concern in the
modules imported here."""

from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_ports as ports,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_removal as removal,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_settings as settings,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_entries as entries,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_identity as identity,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_metrics_dir as metrics_dir,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_network as network,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_scrape_servers as scrape_servers,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_sources as sources,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_tls as tls,
)


def _present(resolved: list[dict]) -> list[dict]:
    return [service for service in resolved if service["state"] == "present"]


def _absent(resolved: list[dict]) -> list[dict]:
    return [service for service in resolved if service["state"] == "absent"]


def preflight_errors(
    resolved: list[dict],
    host: str,
    *,
    host_address: str,
    listeners: list[dict],
    prometheus_group: str,
    prometheus_servers: list[str],
    hostvars: dict,
) -> list[str]:
    """Every refusal the control node can find for the host's services (`resolved`: kept and
    removed, as tasks/resolve.yml resolved them). The settings table's come first and alone: the
    other checks read the values it vouches for."""
    errors = settings.settings_errors(resolved, host)
    if errors:
        return errors
    services, removals = _present(resolved), _absent(resolved)
    return (
        entries.name_errors(resolved, host)
        + removal.removal_errors(removals, host, services)
        + network.address_errors(services, host, host_address)
        + ports.port_errors(services, host, listeners)
        + entries.environment_errors(services, host)
        + network.networks_errors(services, host)
        + metrics_dir.shared_dir_errors(services, host)
        + sources.source_errors(services, host)
        + tls.tls_errors(services, host)
        + scrape_servers.scrape_server_errors(host, prometheus_group, prometheus_servers, hostvars)
    )


def host_read_request(
    resolved: list[dict],
    *,
    host_address: str,
    bytes_per_worker: int,
    accounts_record: str,
    packages: list[str],
) -> dict:
    """The argument of files/host_reads.py for the host's services."""
    services, removals = _present(resolved), _absent(resolved)
    return {
        "ports": [[int(service["port"]), service["name"]] for service in services],
        "removed": [removal["name"] for removal in removals],
        "mounts": metrics_dir.mount_request(services, bytes_per_worker),
        "removal_mounts": [removal["multiproc_dir"] for removal in removals],
        "host_names": network.scrape_host_names(services, host_address),
        "accounts_record": accounts_record,
        "packages": packages,
    }


def service_manager_errors(reads: dict, host: str) -> list[str]:
    """The role installs systemd units: a host systemd does not run is refused (site.yml gathers
    no facts on an app host; this is its service manager check)."""
    manager = reads["service_manager"]
    if manager == "systemd":
        return []
    return [
        f"{host}: the service manager is {manager}; use a host that runs systemd as PID 1: this"
        " bundle installs systemd units"
    ]


def host_errors(resolved: list[dict], reads: dict, host: str, bytes_per_worker: int) -> list[str]:
    """Every refusal found in what the host holds (`reads`, files/host_reads.py's answer)."""
    services, removals = _present(resolved), _absent(resolved)
    return (
        service_manager_errors(reads, host)
        + network.unresolved_name_errors(reads["unresolved"], host)
        + ports.port_holder_errors(reads["port_holders"], host)
        + identity.identity_errors(services, host, reads["passwd"], reads["group"])
        + metrics_dir.mount_errors(services, reads["mounts"], host, bytes_per_worker)
        + metrics_dir.removal_mount_errors(removals, reads["removal_mounts"], host)
    )


class FilterModule:
    def filters(self):
        return {
            "sanic_service_preflight_errors": preflight_errors,
            "sanic_service_host_read_request": host_read_request,
            "sanic_service_host_errors": host_errors,
        }
