"""The one place where a service's settings and derived names are computed.

`sanic_service_resolve` turns the inventory's `sanic_services` into the list every task, template,
Molecule verify play and docs test reads: each key an item leaves out takes its role default, and
every name derived from the service (unit, paths, user, the addresses the health gate and
Prometheus use) is added here and nowhere else.
"""

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.addresses import (
    ANY_ADDRESSES,
    LOOPBACK,
    listenable,
    url_host,
)


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
    allow_privileged_user: bool,
    max_requests: int,
    max_requests_jitter: int,
    max_rss_bytes: int,
    keep_releases: int,
    slos: list,
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
        if item.get("state", "present") == "absent":
            resolved.append(_removal(item, install_root))
            continue
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
            "allow_privileged_user": allow_privileged_user,
            "max_requests": max_requests,
            "max_requests_jitter": max_requests_jitter,
            "max_rss_bytes": max_rss_bytes,
            "tls_cert_file": "",
            "tls_key_file": "",
            "keep_releases": keep_releases,
            "slos": slos,
            "state": "present",
            **item,
        }
        address = str(service["bind_address"])
        listens_everywhere = address in ANY_ADDRESSES
        tls_dir = f"{install_root}/{name}/tls"
        service.update(
            environment={**environment, **(item.get("environment") or {})},
            unit_name=f"sanic-{name}.service",
            unit_path=f"/etc/systemd/system/sanic-{name}.service",
            socket_name=f"sanic-{name}.socket",
            socket_path=f"/etc/systemd/system/sanic-{name}.socket",
            listen_stream=listen_stream(address, service["port"]),
            tmpfiles_path=f"/etc/tmpfiles.d/sanic-{name}.conf",
            install_dir=f"{install_root}/{name}",
            # With a certificate the service serves HTTPS (the health gate and Prometheus too).
            scheme="https" if service["tls_cert_file"] else "http",
            tls_dir=tls_dir,
            host_tls_cert=f"{tls_dir}/server.crt",
            host_tls_key=f"{tls_dir}/server.key",
            # The health gate scrapes from the host itself.
            gate_address=LOOPBACK if listens_everywhere else url_host(address),
            scrape_target="{}:{}".format(
                url_host(host_address if listens_everywhere else address), service["port"]
            ),
            scrape_instance=f"{inventory_hostname}:{service['port']}",
        )
        service["gate_url"] = (
            f"{service['scheme']}://{service['gate_address']}:{service['port']}{service['metrics_path']}"
        )
        resolved.append(service)
    return resolved


def _removal(item: dict, install_root: str) -> dict:
    """A service marked `state: absent`: only the names of what the role installed for it. Its
    name is the one key it needs; user, group and multiproc_dir only where they were overridden."""
    name = item["name"]
    return {
        "name": name,
        "state": "absent",
        "user": item.get("user", name),
        "group": item.get("group", name),
        "multiproc_dir": item.get("multiproc_dir", f"/dev/shm/prom_{name}"),
        "unit_name": f"sanic-{name}.service",
        "unit_path": f"/etc/systemd/system/sanic-{name}.service",
        "socket_name": f"sanic-{name}.socket",
        "socket_path": f"/etc/systemd/system/sanic-{name}.socket",
        "tmpfiles_path": f"/etc/tmpfiles.d/sanic-{name}.conf",
        "install_dir": f"{install_root}/{name}",
    }


class FilterModule:
    def filters(self):
        return {
            "sanic_service_resolve": resolve_services,
            "sanic_service_listenable": listenable,
        }
