"""victoria_metrics' checks of its settings (plugins/filter/victoria_metrics.py) over generated
values, and through the role's `variables` entry point: bad values stop the run before any change,
naming host and variable."""

import itertools

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import victoria_metrics

from .render import REPO, run_plays

HOST = "store-1"
GOOD = [":8428", "90d", "15s", "30s", "writer", "s3cret"]
LISTEN = ["".join(parts) for parts in itertools.product(["", "127.0.0.1", "vm.example.net"],
                                                          [":8428", ":1", ":65535"])]  # fmt: skip
NOT_LISTEN = ["8428", "vm.example.net", ":", ":port", "vm:8428:1", "127.0.0.1 :8428"]
RETENTION = [f"{count}{unit}" for count, unit in itertools.product([1, 7, 90, 400], "hdwy")]
NOT_RETENTION = ["0", "0d", "90 d", "90days", "-1", "d", "1.5y", "90m"]
DURATIONS = ["1ms", "1s", "15s", "1m", "1m30s", "2h"]
NOT_DURATIONS = ["15", "15 s", "1.5m", "15sec", "s"]


def problems(**changed):
    settings = dict(
        zip(["listen", "retention", "dedup", "offset", "user", "password"], GOOD, strict=True)
    )
    settings.update(changed)
    return victoria_metrics.victoria_metrics_problems(list(settings.values()), HOST)


def assert_named(found, variable):
    assert found and all(message.startswith(f"{HOST}: {variable}") for message in found), found


@pytest.mark.parametrize("listen", LISTEN)
@pytest.mark.parametrize("retention", RETENTION)
def test_good_addresses_and_retentions_pass(listen, retention):
    assert problems(listen=listen, retention=retention) == []


@pytest.mark.parametrize("listen", NOT_LISTEN)
def test_an_address_without_port_is_refused(listen):
    assert_named(problems(listen=listen), "victoria_metrics_listen_address")


@pytest.mark.parametrize("retention", NOT_RETENTION)
def test_a_retention_without_a_known_unit_is_refused(retention):
    assert_named(problems(retention=retention), "victoria_metrics_retention_period")


@pytest.mark.parametrize("value", [*DURATIONS, ""])
def test_durations_and_an_empty_dedup_interval_pass(value):
    assert problems(dedup=value, offset=value or "30s") == []


@pytest.mark.parametrize("value", NOT_DURATIONS)
def test_intervals_that_are_no_durations_are_refused(value):
    assert_named(problems(dedup=value), "victoria_metrics_dedup_min_scrape_interval")
    assert_named(problems(offset=value), "victoria_metrics_search_latency_offset")


@pytest.mark.parametrize(("user", "password"), [("writer", ""), ("", "s3cret")])
def test_a_user_without_a_password_or_the_reverse_is_refused(user, password):
    assert_named(problems(user=user, password=password), "victoria_metrics_http_auth_username")
    assert problems(user="", password="") == []


def test_bad_settings_stop_the_role_before_any_change(tmp_path):
    include = {
        "ansible.builtin.include_role": {"name": "victoria_metrics", "tasks_from": "variables"}
    }
    plays = [{"hosts": "all", "gather_facts": False, "tasks": [include]}]
    hosts = {HOST: {"victoria_metrics_retention_period": "90days",
                    "victoria_metrics_http_auth_username": "writer"}}  # fmt: skip
    result = run_plays(plays, {}, REPO / "roles", tmp_path, hosts=hosts)
    assert result.returncode != 0
    assert f"{HOST}: victoria_metrics_retention_period must be a number" in result.stdout
    assert f"{HOST}: victoria_metrics_http_auth_username and" in result.stdout
    assert "Nothing was changed." in result.stdout
