"""Label normalisation: series are bounded by the route table, whatever clients send."""

import pytest
from app_instrumentation.http_metrics import (
    OTHER_METHOD,
    UNMATCHED_ROUTE,
    method_label,
    parse_duration_buckets,
    route_label,
)

from app_instrumentation import http_metrics


@pytest.mark.parametrize(
    "method", ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
)
def test_standard_methods_keep_their_name(method):
    assert method_label(method) == method


@pytest.mark.parametrize("method", ["FOOBAR", "get", "PROPFIND", "", "GET " * 50])
def test_other_methods_become_other(method):
    assert method_label(method) == OTHER_METHOD == "_OTHER"


def test_route_label_is_the_route_pattern():
    assert route_label("/items/<item_id:int>") == "/items/<item_id:int>"


def test_unmatched_requests_share_one_route_label():
    assert route_label(None) == UNMATCHED_ROUTE == "__unmatched__"


def test_request_finished_reuses_one_child_per_method_route_and_status():
    started = http_metrics.request_started()
    for method in ("FOOBAR", "BAZ", "QUUX"):
        http_metrics.request_finished(method, None, 405, started)
        http_metrics.request_started()

    child = http_metrics._duration_children[(OTHER_METHOD, None, 405)]
    labels = http_metrics.REQUEST_DURATION.labels(OTHER_METHOD, UNMATCHED_ROUTE, "405")
    assert child is labels
    assert [key for key in http_metrics._duration_children if key[2] == 405] == [
        (OTHER_METHOD, None, 405)
    ]


def test_default_buckets_are_opentelemetry_recommendation():
    assert parse_duration_buckets("") == (
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    )  # fmt: skip


def test_buckets_are_read_as_comma_separated_seconds():
    assert parse_duration_buckets("0.01, 0.1,1,10") == (0.01, 0.1, 1.0, 10.0)


@pytest.mark.parametrize("text", ["0.1,abc", "1,0.5", "0,1", "0.1,0.1"])
def test_invalid_buckets_stop_the_service_naming_the_variable(text):
    with pytest.raises(SystemExit, match=f"METRICS_DURATION_BUCKETS={text} .*; fix: "):
        parse_duration_buckets(text)
