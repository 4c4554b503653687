"""What plan.yml compares: the files a deploy writes for each service, as the control node renders
them, against the host's (files/read_plan.py), and which services and files are already as a
deploy leaves them, so that the deploy does not write or start them again."""

import hashlib
from pathlib import Path

from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_releases as releases_module,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.test.health_gate import gate_passed

# Owner, group and mode as the role's tasks set them (unit.yml, directory.yml, tls.yml).
ROOT_FILE = {"type": "file", "owner": "root", "group": "root", "mode": "644"}


def _file_sha1(path: str) -> str | None:
    """The sha1 of a control-node file (the checksum copy compares), None when unreadable."""
    try:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def wanted_files(services: list[dict], rendered: dict) -> dict:
    """Each path a deploy writes for the services, with the state it leaves there; None where it
    removes the path (the certificate directory of a plain HTTP service). `rendered` maps each
    unit, socket unit and tmpfiles path to the sha1 of its template rendered for the service."""
    wanted = {}
    for service in services:
        for key in ("unit_path", "socket_path", "tmpfiles_path"):
            wanted[service[key]] = {**ROOT_FILE, "sha1": rendered[service[key]]}
        if service["scheme"] != "https":
            wanted[service["tls_dir"]] = None
            continue
        group = {"owner": "root", "group": service["group"]}
        wanted[service["tls_dir"]] = {"type": "dir", **group, "mode": "750"}
        for source, dest in (("tls_cert_file", "host_tls_cert"), ("tls_key_file", "host_tls_key")):
            wanted[service[dest]] = {
                "type": "file",
                **group,
                "mode": "640",
                "sha1": _file_sha1(service[source]),
            }
    return wanted


def files_settled(wanted: dict, found: dict, rollback_run: bool) -> list[str]:
    """The paths whose state on the host (`found`, read_plan.py's "files") is the one wanted:
    a deploy leaves them alone. None in a rollback run, which installs the units again."""
    if rollback_run:
        return []
    return sorted(path for path, state in wanted.items() if path in found and found[path] == state)


def installed_sums(wanted: dict | None, unit_results: list, socket_results: list) -> dict:
    """The sha1 of each unit and socket unit as installed by this run: what unit.yml wrote or
    compared (its results, loop_var `service`), else the plan's rendering of what it would write."""
    sums = {
        path: state["sha1"] for path, state in (wanted or {}).items() if state and "sha1" in state
    }
    for results, key in ((unit_results, "unit_path"), (socket_results, "socket_path")):
        for result in results or []:
            if result.get("checksum"):
                sums[result["service"][key]] = result["checksum"]
    return sums


def services_settled(services: list[dict], host_reads: list[str], rollback_run: bool) -> list[str]:
    """The names of the services plan.yml's read of the host found installed, linked, enabled and
    active as this run leaves them (it printed no line about them); none in a rollback run,
    which moves their links."""
    if rollback_run:
        return []
    return [
        service["name"]
        for service in services
        if not any(line.startswith(f"{service['name']}: ") for line in host_reads)
    ]


def gate_read_request(services: list[dict]) -> list[list]:
    """files/read_plan.py's "gates" request: each service's gate URL and the token file its
    metrics require (None without one), as health.yml's gate asks, and its unit."""
    return [
        [
            service["name"],
            service["gate_url"],
            (service.get("environment") or {}).get("METRICS_BEARER_TOKEN_FILE"),
            service["unit_name"],
        ]
        for service in services
    ]


def started_read_request(services: list[dict], revision_file: str) -> list[list]:
    """files/read_plan.py's "started" request: each service's revision record, socket unit,
    scheme, certificate and key on the host."""
    return [
        [
            service["name"],
            f"{service['install_dir']}/{revision_file}",
            service["socket_name"],
            service["scheme"],
            service["host_tls_cert"],
            service["host_tls_key"],
        ]
        for service in services
    ]


def in_place_work(
    services: list[dict],
    *,
    removals: list[dict],
    accounts_missing: list[str],
    packages_missing: list[str],
    wanted: dict,
    settled_files: list[str],
    settled_services: list[str],
    gates: dict,
    releases: dict,
) -> list[str]:
    """What the pass of hosts where nothing restarts would still do on this host, one line per
    thing, from what plan.yml and preflight read; none when the host is settled: every file and
    service as a deploy leaves them, every service passing its gate's request (`gates`,
    read_plan.py's answers) and no release to record or version to remove (`releases`), so
    restart.yml, health.yml and cleanup.yml have nothing to do there (tasks/main.yml skips them)."""
    lines = [f"{removal['name']}: marked absent, to remove" for removal in removals]
    lines += [f"package {package} to install" for package in packages_missing]
    lines += [f"account {account} to create" for account in accounts_missing]
    lines += [f"{path} to write" for path in wanted if path not in settled_files]
    lines += [
        f"{service['name']}: to install, link or start"
        for service in services
        if service["name"] not in settled_services
    ]
    for service in services:
        answer = gates.get(service["name"]) or {}
        if not gate_passed(answer, service["workers"]):
            error = f"; {answer['msg']}" if answer.get("msg") else ""
            lines.append(
                f"{service['name']}: {service['gate_url']} did not answer with sanic_workers_live"
                f" {service['workers']} (HTTP {answer.get('status')}{error};"
                f" {answer.get('content') or 'no sanic_workers_live line'})"
            )
    return lines + releases_module.cleanup_work(services, releases)


def target_writes(hosts: list[str], hostvars) -> list[dict]:
    """One write per Prometheus server for files/write_targets.py: the server, its file_sd
    directory and the target file of each of `hosts` it scrapes (scrape_targets.yml's
    sanic_service_scrape_servers), None for a host that runs no service (its file goes)."""
    writes: dict[str, dict] = {}
    for host in hosts:
        variables = hostvars[host]
        text = (
            variables["sanic_service_target_text"] if variables["sanic_service_instances"] else None
        )
        for server in variables["sanic_service_scrape_servers"]:
            write = writes.setdefault(
                server,
                {
                    "server": server,
                    "directory": hostvars[server]["sanic_scrape_job_file_sd_dir"],
                    "files": {},
                },
            )
            write["files"][f"{host}.yml"] = text
    return list(writes.values())


class FilterModule:
    def filters(self):
        return {
            "sanic_service_wanted_files": wanted_files,
            "sanic_service_files_settled": files_settled,
            "sanic_service_settled": services_settled,
            "sanic_service_installed_sums": installed_sums,
            "sanic_service_gate_read_request": gate_read_request,
            "sanic_service_started_read_request": started_read_request,
            "sanic_service_in_place_work": in_place_work,
            "sanic_service_target_writes": target_writes,
        }
