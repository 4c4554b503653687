"""The panels' queries as Grafana sends them, and a check of every one against a live Prometheus
(for the fleet's verify: `panels_without_data`)."""

import json
import math
import urllib.parse
import urllib.request

from .build import ALL_SERVICES, DASHBOARD_FILE, DEFAULT_JOB

# What Grafana substitutes before it sends a query, with "All" services picked.
RATE_INTERVAL = "1m"


def panels(dashboard: dict) -> list[dict]:
    """Every panel that queries, in dashboard order: rows are headings, a collapsed row holds its
    panels inside it."""
    found = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            found.extend(panel.get("panels") or [])
        else:
            found.append(panel)
    return found


def committed_dashboard() -> dict:
    return json.loads(DASHBOARD_FILE.read_text())


def grafana_substituted(query: str, job: str = DEFAULT_JOB) -> str:
    for variable, value in (
        ("$__rate_interval", RATE_INTERVAL),
        ("$job", job),
        ("$service", ALL_SERVICES),
    ):
        query = query.replace(variable, value)
    return query


def panel_queries(dashboard: dict) -> dict[str, list[str]]:
    """Each panel's title and its queries, as written (with Grafana's variables)."""
    return {
        panel["title"]: [target["expr"] for target in panel["targets"]]
        for panel in panels(dashboard)
    }


def has_a_number(result: list[dict]) -> bool:
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def panels_without_data(
    prometheus_url: str, job: str = DEFAULT_JOB, headers: dict | None = None, timeout: float = 10
) -> list[str]:
    """The committed dashboard's queries (`title / refId`) that return no finite number from the
    Prometheus at `prometheus_url` (headers: its credentials, if it asks for them)."""
    empty = []
    for panel in panels(committed_dashboard()):
        for target in panel["targets"]:
            body = urllib.parse.urlencode({"query": grafana_substituted(target["expr"], job)})
            request = urllib.request.Request(
                f"{prometheus_url.rstrip('/')}/api/v1/query",
                data=body.encode(),
                headers=headers or {},
            )
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.load(response)
            if answer["status"] != "success" or not has_a_number(answer["data"]["result"]):
                empty.append(f"{panel['title']} / {target['refId']}")
    return empty
