"""Filters of the SLO rules (sanic_scrape_job): the fleet's objectives, read from the app hosts'
inventory, and the rules and promtool tests generated for each (module_utils/slo.py)."""

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.slo import (
    fleet_slos,
    rule_group,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.slo_tests import (
    test_files,
)

# What the SLOs are read from in each app host's variables (group_vars and host_vars).
INVENTORY_KEYS = ("sanic_services", "sanic_service_slos", "sanic_service_environment")


def _app_hosts(hostvars, hosts: list[str]) -> dict[str, dict]:
    return {host: {key: hostvars[host].get(key) for key in INVENTORY_KEYS} for host in hosts}


def slo_errors(hostvars, hosts: list[str]) -> list[str]:
    """Every message about the app hosts' SLOs, each naming host, service, key and value."""
    return fleet_slos(_app_hosts(hostvars, hosts))[1]


def slo_rule_files(
    hostvars, hosts: list[str], job: str, interval: str, rules_dir: str
) -> list[dict]:
    """Per SLO: its rules file's name and content, and its generated promtool test files (name
    and content, reading the rules file from `rules_dir`)."""
    slos, errors = fleet_slos(_app_hosts(hostvars, hosts))
    if errors:  # preflight (variables.yml) stops the run before this is reached
        raise ValueError("; ".join(errors))
    files = []
    for slo in slos:
        name = f"{slo.service}-{slo.name}.yml"
        files.append(
            {
                "name": name,
                "rules": {"groups": [rule_group(slo, job, interval)]},
                "tests": [
                    {"name": test_name, "content": content}
                    for test_name, content in test_files(slo, job, f"{rules_dir}/{name}").items()
                ],
            }
        )
    return files


class FilterModule:
    def filters(self):
        return {"slo_errors": slo_errors, "slo_rule_files": slo_rule_files}
