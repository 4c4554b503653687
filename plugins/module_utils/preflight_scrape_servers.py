"""Preflight's check of what an app host reads from each Prometheus server of its group."""

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import quoted


def scrape_server_errors(host: str, group: str, servers: list[str], hostvars: dict) -> list[str]:
    """What this host reads from each Prometheus server of `group`: the directory it pushes its
    target file into (sanic_scrape_job_file_sd_dir, required, absolute)."""
    errors = []
    for server in servers:
        value = (hostvars.get(server) or {}).get("sanic_scrape_job_file_sd_dir")
        if value is None or str(value).strip() == "":
            problem = "is not set"
        elif not str(value).startswith("/"):
            problem = f"= {quoted(value)} is not absolute"
        else:
            continue
        errors.append(
            f"{host}: sanic_scrape_job_file_sd_dir {problem} for Prometheus server {server} (group"
            f" {group}), where this host pushes its target file; allowed: an absolute directory,"
            f" set in the inventory's group_vars of {group}, e.g. /etc/prometheus/file_sd/sanic"
        )
    return errors
