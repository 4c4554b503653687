"""The `alerting:` section of prometheus.yml, the one block of that file this role owns."""

import re

import yaml

MARKER = "prometheus_server alerting"
OWN_BLOCK = re.compile(rf"(?ms)^# BEGIN {MARKER}\n.*?^# END {MARKER}\n?")
# A top-level `alerting:` key with its indented (or blank) lines, e.g. the package's localhost:9093.
FOREIGN_SECTION = re.compile(r"(?m)^alerting:[^\n]*\n(?:[ \t][^\n]*\n|[ \t]*\n)*")


def prometheus_server_with_alerting(config_text, alertmanagers):
    """The configuration with every alert sent to `alertmanagers` (host:port), from a marked block
    at its end that replaces any `alerting:` section; everything else is kept as it is."""
    rest = FOREIGN_SECTION.sub("", OWN_BLOCK.sub("", config_text)).rstrip("\n")
    targets = [
        str(target) for target in alertmanagers
    ]  # plain strings: Ansible passes its own types
    alerting = {"alerting": {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}}
    block = yaml.safe_dump(alerting, default_flow_style=False, sort_keys=False)
    return f"{rest}\n\n# BEGIN {MARKER}\n{block}# END {MARKER}\n"


class FilterModule:
    def filters(self):
        return {"prometheus_server_with_alerting": prometheus_server_with_alerting}
