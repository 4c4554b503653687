"""The Grafana dashboard covers the agreed panels and every panel query is valid PromQL."""

import json
import re
import subprocess
from pathlib import Path

import yaml

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "sanic.json"
# What Grafana substitutes before it sends a query: the default job and the "All" value.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$job": "sanic-api", "$service": ".+"}


def panel_queries() -> dict[str, list[str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard["panels"]}


def test_dashboard_has_one_panel_per_agreed_view():
    assert list(panel_queries()) == [
        "Request rate",
        "Error ratio (5xx)",
        "Latency quantiles by route",
        "In-flight requests",
        "Live workers",
        "Scrape duration",
        "Multiprocess files",
    ]


def test_every_query_selects_the_dashboard_job_and_services():
    for title, queries in panel_queries().items():
        for query in queries:
            assert 'job="$job", service=~"$service"' in query, title


def test_every_query_parses_as_promql(tmp_path):
    rules = []
    for index, query in enumerate(q for qs in panel_queries().values() for q in qs):
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        assert not re.search(r"\$\w", query), f"unsubstituted variable in {query}"
        rules.append({"record": f"dashboard:query_{index}", "expr": query})
    rules_file = tmp_path / "dashboard_queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    check = subprocess.run(
        ["promtool", "check", "rules", rules_file], capture_output=True, text=True
    )

    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(rules)} rules found" in check.stdout
