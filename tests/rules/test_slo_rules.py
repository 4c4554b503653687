"""SLOs: the generated rules pass `promtool check rules`, the generated unit tests pass `promtool
test rules` for every shape of SLO, and the tests catch a threshold or window changed by hand."""

import itertools
import subprocess

import pytest
import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.slo import (
    BURN_ALERTS,
    parse_slo,
    rule_group,
    slo_errors,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.slo_tests import (
    test_files as generated_test_files,
)

from app_instrumentation.http_metrics import DEFAULT_DURATION_BUCKETS

JOB = "sanic-api"

SHAPES = {
    "availability 99.9% over 30 days": {"kind": "availability", "objective": 99.9, "window": "30d"},
    "availability 99% over 28 days": {"kind": "availability", "objective": 99, "window": "28d"},
    # 14.4x and 6x of a 10% budget exceed all requests: those alerts can only stay silent.
    "availability 90% over 30 days": {"kind": "availability", "objective": 90, "window": "30d"},
    "availability 99.99% named": {
        "name": "checkout",
        "kind": "availability",
        "objective": 99.99,
        "window": "30d",
    },
    "latency 99% under 0.25 s": {
        "kind": "latency",
        "objective": 99,
        "window": "30d",
        "threshold_seconds": 0.25,
    },
    "latency 99.5% under 1 s (le 1.0)": {
        "kind": "latency",
        "objective": 99.5,
        "window": "28d",
        "threshold_seconds": 1,
    },
}


def write_rules(tmp_path, slos):
    """Each SLO's rules file and its generated test files; the test files' names."""
    names = []
    for slo in slos:
        rules_file = f"{slo.service}-{slo.name}.yml"
        rules = {"groups": [rule_group(slo, JOB, "15s")]}
        (tmp_path / rules_file).write_text(yaml.safe_dump(rules, sort_keys=False))
        for name, content in generated_test_files(slo, JOB, rules_file).items():
            (tmp_path / name).write_text(yaml.safe_dump(content, sort_keys=False))
            names.append(name)
    return sorted(names)


def promtool(tmp_path, *args):
    return subprocess.run(["promtool", *args], cwd=tmp_path, capture_output=True, text=True)


def test_every_shape_passes_promtool_and_its_generated_tests(tmp_path):
    slos = [parse_slo(raw, f"svc{i}") for i, raw in enumerate(SHAPES.values())]
    slos.append(parse_slo(SHAPES["latency 99% under 0.25 s"], "svc0"))  # two SLOs of one service
    test_files = write_rules(tmp_path, slos)

    rules_files = sorted(f"{slo.service}-{slo.name}.yml" for slo in slos)
    check = promtool(tmp_path, "check", "rules", *rules_files)
    assert check.returncode == 0, check.stdout + check.stderr
    # Per SLO: an error ratio per alert window and the SLO's own, the budget left, four alerts.
    assert check.stdout.count(f"SUCCESS: {7 + 1 + 1 + 4} rules found") == len(slos)

    assert len(test_files) == len(slos) * len(BURN_ALERTS)
    result = promtool(tmp_path, "test", "rules", *test_files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(test_files)


def edit_alert(tmp_path, alert_name, old, new):
    """Change `old` to `new` in one alert's expression, as an operator editing by hand would."""
    rules_file = tmp_path / "shop-availability.yml"
    rules = yaml.safe_load(rules_file.read_text())
    (alert,) = [r for r in rules["groups"][0]["rules"] if r.get("alert") == alert_name]
    assert old in alert["expr"]
    alert["expr"] = alert["expr"].replace(old, new)
    rules_file.write_text(yaml.safe_dump(rules, sort_keys=False))


@pytest.mark.parametrize(
    ("alert_name", "old", "new", "failing_test"),
    [
        # Threshold lowered (14.4x -> 10x of 0.001): the 0.9x burn now fires.
        ("SanicSLOBurnRate1h", "> 0.0144", "> 0.010", "stays silent at 0.9x"),
        # Threshold raised (14.4x -> 20x): the 1x burn never fires.
        ("SanicSLOBurnRate1h", "> 0.0144", "> 0.020", "fires within"),
        # Long window doubled: the alert fires too late.
        ("SanicSLOBurnRate1h", "rate1h{", "rate2h{", "fires within"),
        ("SanicSLOBurnRate3d", "rate3d{", "rate1d{", "fires within"),
        # Long window of the 6h alert shortened to 1h: it fires too early.
        ("SanicSLOBurnRate6h", "rate6h{", "rate1h{", "fires within"),
    ],
)
def test_generated_tests_fail_when_a_rule_is_edited_by_hand(
    tmp_path, alert_name, old, new, failing_test
):
    slo = parse_slo(SHAPES["availability 99.9% over 30 days"], "shop")
    test_files = write_rules(tmp_path, [slo])
    edit_alert(tmp_path, alert_name, old, new)
    (own_tests,) = [f for f in test_files if f.endswith(f"-{alert_name[-2:]}.test.yml")]
    result = promtool(tmp_path, "test", "rules", own_tests)
    assert result.returncode != 0, result.stdout
    assert failing_test in result.stdout + result.stderr


VALID = {"kind": "availability", "objective": 99.9, "window": "30d"}
BAD_VALUES = {
    "objective": [0, 100, -1, 100.5, "high", True, None, "99.9%"],
    "window": ["7d", "30", 30, None, "1M", "28D"],
    "kind": ["uptime", None, 1, "Latency"],
    "name": ["", "a b", "shop/availability", 3],
}
BETWEEN_BUCKETS = [(0.3, "0.25 and 0.5"), (0.001, "0.005"), (11, "10"), (0.0051, "0.005 and 0.01")]
VALUES_TRIED = sum(len(v) for v in BAD_VALUES.values()) + len(BETWEEN_BUCKETS) + 3


@pytest.mark.parametrize(
    ("key", "value"),
    [(key, value) for key, values in BAD_VALUES.items() for value in values],
)
def test_a_bad_value_is_refused_naming_host_service_key_and_value(key, value):
    errors = slo_errors({**VALID, key: value}, "shop", DEFAULT_DURATION_BUCKETS, "app1")
    assert len(errors) == 1, errors
    assert errors[0].startswith("app1: service shop: slos")
    assert f"{key} = {value!r}" in errors[0]


@pytest.mark.parametrize(("threshold", "nearest"), BETWEEN_BUCKETS)
def test_a_latency_threshold_between_buckets_names_the_nearest_boundaries(threshold, nearest):
    slo = {"kind": "latency", "objective": 99, "window": "30d", "threshold_seconds": threshold}
    (error,) = slo_errors(slo, "shop", DEFAULT_DURATION_BUCKETS, "app1")
    assert f"threshold_seconds = {threshold!r} is not a bucket boundary" in error
    assert error.endswith(f"the nearest are {nearest}")


def test_a_latency_objective_on_overridden_buckets_without_its_boundary_is_refused():
    slo = {"kind": "latency", "objective": 99, "window": "30d", "threshold_seconds": 0.25}
    assert slo_errors(slo, "shop", DEFAULT_DURATION_BUCKETS, "app1") == []
    (error,) = slo_errors(slo, "shop", (0.1, 0.2, 0.5, 1.0), "app1")
    assert "nearest are 0.2 and 0.5" in error


def test_a_latency_objective_needs_a_threshold_and_availability_refuses_one():
    (missing,) = slo_errors({**VALID, "kind": "latency"}, "shop", DEFAULT_DURATION_BUCKETS, "h")
    assert "a latency objective needs one of the service's bucket boundaries" in missing
    (extra,) = slo_errors(
        {**VALID, "threshold_seconds": 0.25}, "shop", DEFAULT_DURATION_BUCKETS, "h"
    )
    assert "for latency objectives only" in extra


def test_every_valid_combination_is_accepted():
    combos = itertools.product(
        ("availability", "latency"), (90, 99, 99.5, 99.9, 99.99), ("28d", "30d")
    )
    for kind, objective, window in combos:
        raw = {"kind": kind, "objective": objective, "window": window}
        if kind == "latency":
            raw["threshold_seconds"] = 0.5
        assert slo_errors(raw, "shop", DEFAULT_DURATION_BUCKETS, "h") == [], raw
