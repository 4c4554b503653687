"""dashboards/sanic.json is what dashboards/ generates, every panel query parses as PromQL, and the
SLO row reads the dashboard's job and services and shows the values the SLO rules imply."""

import json
import subprocess

import promql_parser
import pytest

from dashboards.build import ALL_SERVICES, DASHBOARD_FILE, DEFAULT_JOB, dashboard_json
from dashboards.queries import committed_dashboard, grafana_substituted, panel_queries, panels
from dashboards.slo_row import slo_row


def first_difference(committed: dict, generated: dict) -> str | None:
    """Where the two dashboards first differ: a panel's title, or a top-level key."""
    for index, (old, new) in enumerate(zip(committed["panels"], generated["panels"], strict=False)):
        if old != new:
            return f"panel {index} ({new.get('title')!r})"
    if len(committed["panels"]) != len(generated["panels"]):
        return (
            f"panel count: {len(committed['panels'])} committed, {len(generated['panels'])} built"
        )
    return next(
        (f"key {key!r}" for key in sorted(generated) if committed.get(key) != generated[key]), None
    )


def test_the_committed_dashboard_is_what_the_code_generates():
    generated = json.loads(dashboard_json())

    assert first_difference(committed_dashboard(), generated) is None, "run `make dashboards`"


def test_a_changed_panel_is_named_as_the_first_difference():
    generated = json.loads(dashboard_json())
    edited = json.loads(dashboard_json())
    edited["panels"][4]["targets"][0]["expr"] += " > 0"

    assert first_difference(edited, generated) == "panel 4 ('Live workers')"


def all_queries() -> list[tuple[str, str]]:
    return [(title, q) for title, qs in panel_queries(committed_dashboard()).items() for q in qs]


@pytest.mark.parametrize(("title", "query"), all_queries(), ids=lambda value: value[:40])
def test_every_panel_query_parses_with_promql_parser(title, query):
    promql_parser.parse(grafana_substituted(query))


def test_promql_parser_refuses_what_promtool_would():
    with pytest.raises(ValueError, match="unclosed left parenthesis"):
        promql_parser.parse(grafana_substituted('sum(rate(x{job="$job"}[$__rate_interval])'))


def selectors(expr) -> list:
    found = []
    promql_parser.walk(
        expr,
        lambda node: found.append(node) if isinstance(node, promql_parser.VectorSelector) else None,
    )
    return found


SLO_TITLES = [panel.build().title for panel in slo_row()[1]]


@pytest.mark.parametrize("title", SLO_TITLES)
def test_every_slo_series_is_read_for_the_dashboard_job_and_services(title):
    queries = panel_queries(committed_dashboard())[title]
    for query in queries:
        found = selectors(promql_parser.parse(grafana_substituted(query)))
        assert found, query
        for selector in found:
            matchers = {(m.name, str(m.op), m.value) for m in selector.matchers.matchers}
            assert ("job", "MatchOp.Equal", DEFAULT_JOB) in matchers, (title, selector)
            assert ("service", "MatchOp.Re", ALL_SERVICES) in matchers, (title, selector)
            assert selector.name.startswith("sanic_slo:"), (title, selector)


def test_the_slo_row_repeats_for_each_service_and_holds_the_slo_panels():
    dashboard = committed_dashboard()
    row = next(panel for panel in dashboard["panels"] if panel["type"] == "row")
    after_row = dashboard["panels"][dashboard["panels"].index(row) + 1 :]

    assert row["repeat"] == "service"
    assert [panel["title"] for panel in after_row] == SLO_TITLES
    assert (
        len({panel["id"] for panel in panels(dashboard)} | {row["id"]})
        == len(panels(dashboard)) + 1
    )


def test_the_burn_rate_thresholds_are_the_alerts():
    burn = next(panel for panel in panels(committed_dashboard()) if panel["title"] == "Burn rates")
    steps = burn["fieldConfig"]["defaults"]["thresholds"]["steps"]

    assert [step["value"] for step in steps] == [None, 1, 3, 6, 14.4]


def test_make_dashboards_runs_the_builder():
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "dashboards"],
        cwd=DASHBOARD_FILE.parents[1],
        capture_output=True,
        text=True,
    )

    assert dry_run.stdout.endswith(" .venv/bin/python -m dashboards.build\n"), dry_run.stderr
