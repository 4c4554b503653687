"""The victoria_metrics role's checks of its settings, on the control node."""

import re

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.durations import (
    duration_seconds,
)

LISTEN_ADDRESS = re.compile(r"^[^:\s]*:[0-9]{1,5}$")
# -retentionPeriod: a number of months, or a number with h, d, w or y.
RETENTION = re.compile(r"^[1-9][0-9]*[hdwy]?$")


def victoria_metrics_problems(settings, host):
    """One sentence per problem, each naming the host and the variable; [] when none."""
    listen, retention, dedup, latency_offset, username, password = (str(s) for s in settings)
    problems = []
    if not LISTEN_ADDRESS.match(listen):
        problems.append(
            f"{host}: victoria_metrics_listen_address must be [host]:port (e.g. :8428),"
            f" got {listen!r}."
        )
    if not RETENTION.match(retention):
        problems.append(
            f"{host}: victoria_metrics_retention_period must be a number with h, d, w or y"
            f" (e.g. 90d), got {retention!r}."
        )
    for variable, value in (
        ("victoria_metrics_dedup_min_scrape_interval", dedup),
        ("victoria_metrics_search_latency_offset", latency_offset),
    ):
        if value and duration_seconds(value) is None:
            problems.append(f"{host}: {variable} must be a duration (e.g. 15s), got {value!r}.")
    if bool(username) != bool(password):
        problems.append(
            f"{host}: victoria_metrics_http_auth_username and victoria_metrics_http_auth_password"
            " go together: set both, or neither for an open store."
        )
    return problems


class FilterModule:
    def filters(self):
        return {"victoria_metrics_problems": victoria_metrics_problems}
