"""The `alerting:` section of prometheus.yml, the one block of that file this role owns."""

import re

import yaml

MARKER = "prometheus_server alerting"
OWN_BLOCK = re.compile(rf"(?ms)^# BEGIN {MARKER}\n.*?^# END {MARKER}\n?")
# A top-level `alerting:` key with its indented (or blank) lines, e.g. the package's localhost:9093.
FOREIGN_SECTION = re.compile(r"(?m)^alerting:[^\n]*\n(?:[ \t][^\n]*\n|[ \t]*\n)*")


def prometheus_server_with_alerting(config_text, alertmanagers, login=None, replica_label=""):
    """The configuration with every alert sent to `alertmanagers` (host:port), from a marked block
    that replaces any `alerting:` section (at the end, or where the block already is: another
    role's block after it stays after it, so neither moves the other on every run); everything
    else is kept as it is. `login`
    ({scheme, username, password_file, ca_file}) is how Prometheus reaches an Alertmanager behind
    --web.config.file. `replica_label`, the external label that differs between the servers of an
    HA pair, is dropped from alerts: the Alertmanager cluster sees one alert, not one per server."""
    targets = [
        str(target) for target in alertmanagers
    ]  # plain strings: Ansible passes its own types
    alertmanager = {"static_configs": [{"targets": targets}]}
    login = login or {}
    if login.get("scheme") == "https":
        alertmanager["scheme"] = "https"
        if login.get("ca_file"):
            alertmanager["tls_config"] = {"ca_file": str(login["ca_file"])}
    if login.get("username"):
        alertmanager["basic_auth"] = {
            "username": str(login["username"]),
            "password_file": str(login["password_file"]),
        }
    section = {"alertmanagers": [alertmanager]}
    if replica_label:
        section["alert_relabel_configs"] = [{"action": "labeldrop", "regex": str(replica_label)}]
    alerting = {"alerting": section}
    dumped = yaml.safe_dump(alerting, default_flow_style=False, sort_keys=False)
    block = f"# BEGIN {MARKER}\n{dumped}# END {MARKER}\n"
    if OWN_BLOCK.search(config_text):
        return OWN_BLOCK.sub(lambda _: block, config_text, count=1)
    rest = FOREIGN_SECTION.sub("", config_text).rstrip("\n")
    return f"{rest}\n\n{block}"


class FilterModule:
    def filters(self):
        return {"prometheus_server_with_alerting": prometheus_server_with_alerting}
