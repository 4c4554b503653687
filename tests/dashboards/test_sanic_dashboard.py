"""The Grafana dashboard covers the agreed panels and every panel query is valid PromQL."""

import re
import subprocess

import yaml

from dashboards.queries import committed_dashboard, grafana_substituted
from dashboards.queries import panel_queries as dashboard_panel_queries


def panel_queries() -> dict[str, list[str]]:
    return dashboard_panel_queries(committed_dashboard())


def test_dashboard_has_one_panel_per_agreed_view():
    assert list(panel_queries()) == [
        "Request rate",
        "Error ratio (5xx)",
        "Latency quantiles by route",
        "In-flight requests",
        "Live workers",
        "Scrape duration",
        "Multiprocess files",
        "Worker restarts by reason",
        "Worker resident memory",
        "SLI against objective",
        "Error budget remaining",
        "Burn rates",
    ]


def test_every_query_selects_the_dashboard_job_and_services():
    for title, queries in panel_queries().items():
        for query in queries:
            assert 'job="$job", service=~"$service"' in query, title


def test_every_query_parses_as_promql(tmp_path):
    rules = []
    for index, query in enumerate(q for qs in panel_queries().values() for q in qs):
        query = grafana_substituted(query)
        assert not re.search(r"\$\w", query), f"unsubstituted variable in {query}"
        rules.append({"record": f"dashboard:query_{index}", "expr": query})
    rules_file = tmp_path / "dashboard_queries.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    check = subprocess.run(
        ["promtool", "check", "rules", rules_file], capture_output=True, text=True
    )

    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(rules)} rules found" in check.stdout


# Series of one scrape job, every 15 s; each panel's query, as Grafana sends it, shows these values.
WORKER_SERIES = [
    # A crash loop that outlives the supervisor: the service restarts, its counter too (stale
    # while it restarts); a worker recycled twice meanwhile.
    {
        "series": 'sanic_worker_restarts_total{job="sanic-api", instance="a:8000", service="demo",'
        ' reason="crash"}',
        "values": "0 0 0 6 10 stale 4 10",
    },
    {
        "series": 'sanic_worker_restarts_total{job="sanic-api", instance="a:8000", service="demo",'
        ' reason="recycled"}',
        "values": "0 0 0 1 1 stale 0 1",
    },
    {
        "series": 'sanic_worker_resident_memory_bytes{job="sanic-api", instance="a:8000",'
        ' service="demo", slot="0"}',
        "values": "104857600+1048576x7",
    },
    {
        "series": 'sanic_worker_resident_memory_bytes{job="sanic-api", instance="a:8000",'
        ' service="demo", slot="main"}',
        "values": "52428800x7",
    },
    {
        "series": 'sanic_worker_resident_memory_bytes{job="other", instance="b:8000",'
        ' service="demo", slot="0"}',
        "values": "1x7",
    },
]
# At 105 s, over the last minute ($__rate_interval: the samples from 45 s on): 4 crashes up to the
# service's restart, then 4 (the reset read as a restart from 0) and 6 more; 1 recycle after it.
PANEL_VALUES_AT_105S = {
    "Worker restarts by reason": [
        ({"instance": "a:8000", "service": "demo", "reason": "crash"}, 14),
        ({"instance": "a:8000", "service": "demo", "reason": "recycled"}, 1),
    ],
    "Worker resident memory": [
        (
            {
                "__name__": "sanic_worker_resident_memory_bytes",
                "job": "sanic-api",
                "instance": "a:8000",
                "service": "demo",
                "slot": "0",
            },
            104857600 + 7 * 1048576,
        ),
        (
            {
                "__name__": "sanic_worker_resident_memory_bytes",
                "job": "sanic-api",
                "instance": "a:8000",
                "service": "demo",
                "slot": "main",
            },
            52428800,
        ),
    ],
}


def promql_labels(labels: dict) -> str:
    name = labels.get("__name__", "")
    rest = ", ".join(f'{key}="{value}"' for key, value in labels.items() if key != "__name__")
    return f"{name}{{{rest}}}"


def promtool_evaluates(tmp_path, input_series: list, eval_time: str, expected: dict) -> None:
    """promtool evaluates each panel's first query (`expected`: title -> samples) over the series,
    every 15 s, as Grafana sends it, and finds exactly the samples expected at `eval_time`."""
    queries = panel_queries()
    tests = [
        {
            "interval": "15s",
            "input_series": input_series,
            "promql_expr_test": [
                {
                    "expr": grafana_substituted(queries[title][0]),
                    "eval_time": eval_time,
                    "exp_samples": [
                        {"labels": promql_labels(labels), "value": value}
                        for labels, value in samples
                    ],
                }
                for title, samples in expected.items()
            ],
        }
    ]
    (tmp_path / "empty_rules.yml").write_text(yaml.safe_dump({"groups": []}))
    unit_tests = tmp_path / "panels.test.yml"
    # promtool evaluates only at multiples of evaluation_interval (1m unless set).
    unit_tests.write_text(
        yaml.safe_dump(
            {"rule_files": ["empty_rules.yml"], "evaluation_interval": "15s", "tests": tests}
        )
    )

    result = subprocess.run(
        ["promtool", "test", "rules", unit_tests.name], cwd=tmp_path, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_worker_panels_show_restarts_and_memory_as_promtool_computes_them(tmp_path):
    promtool_evaluates(tmp_path, WORKER_SERIES, "105s", PANEL_VALUES_AT_105S)


def slo_series(name: str, slo: str, value: float, **labels: str) -> dict:
    selector = promql_labels(
        {"__name__": name, "job": "sanic-api", "service": "shop", "slo": slo, **labels}
    )
    return {"series": selector, "values": f"{value}x8"}


# Two SLOs of one service, as slo.py records them: availability 99.9% over 28d (budget 0.001),
# which failed 6x as fast as its budget allows over the last hour and spent 40% of it; latency
# 99% over 30d, never failed. A job the dashboard does not show has the same names.
SLO_SERIES = [
    *(
        slo_series(f"sanic_slo:error_ratio:rate{window}", "availability", ratio)
        for window, ratio in (
            ("1h", 0.006),
            ("6h", 0.006),
            ("1d", 0.003),
            ("3d", 0.0005),
            ("28d", 0.0004),
        )
    ),
    slo_series(
        "sanic_slo:error_budget_remaining:ratio",
        "availability",
        0.6,
        objective="99.9",
        window="28d",
    ),
    *(
        slo_series(f"sanic_slo:error_ratio:rate{window}", "latency", 0)
        for window in ("1h", "6h", "1d", "3d", "30d")
    ),
    slo_series(
        "sanic_slo:error_budget_remaining:ratio", "latency", 1, objective="99", window="30d"
    ),
    {
        "series": 'sanic_slo:error_ratio:rate1h{job="other", service="shop", slo="availability"}',
        "values": "0.5x8",
    },
]
AVAILABILITY = {"job": "sanic-api", "service": "shop", "slo": "availability"}
LATENCY = {"job": "sanic-api", "service": "shop", "slo": "latency"}
SLO_PANEL_VALUES = {
    "SLI against objective": [
        ({**AVAILABILITY, "objective": "99.9", "window": "28d"}, 0.9996),
        ({**LATENCY, "objective": "99", "window": "30d"}, 1),
    ],
    "Error budget remaining": [
        (
            {
                "__name__": "sanic_slo:error_budget_remaining:ratio",
                **AVAILABILITY,
                "objective": "99.9",
                "window": "28d",
            },
            0.6,
        ),
        (
            {
                "__name__": "sanic_slo:error_budget_remaining:ratio",
                **LATENCY,
                "objective": "99",
                "window": "30d",
            },
            1,
        ),
    ],
    # Over 1h: 0.006 / 0.001; 0 for the SLO that never failed.
    "Burn rates": [(AVAILABILITY, 6), (LATENCY, 0)],
}


def test_the_slo_panels_show_sli_budget_and_burn_rate_as_promtool_computes_them(tmp_path):
    promtool_evaluates(tmp_path, SLO_SERIES, "90s", SLO_PANEL_VALUES)


def test_latency_panel_shows_p99_exemplars_linked_through_the_trace_url_variable():
    dashboard = committed_dashboard()
    latency = next(p for p in dashboard["panels"] if p["title"] == "Latency quantiles by route")
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}

    assert {t["refId"]: t["exemplar"] for t in latency["targets"]} == {
        "A": False,
        "B": False,
        "C": True,
    }
    assert [link["url"] for link in latency["fieldConfig"]["defaults"]["links"]] == [
        "${trace_url}${__data.fields.trace_id}"
    ]
    assert variables["trace_url"]["type"] == "textbox"
