"""HTTP server metrics after the OpenTelemetry HTTP semantic conventions, and their hot path.

Importing this module declares the metrics and therefore opens this process's files in
PROMETHEUS_MULTIPROC_DIR: call `multiprocess_dir.require_multiprocess_dir()` first.

The hot path is two plain functions, `request_started()` and `request_finished(...)`, so a
benchmark can time exactly what a request costs without a server. It writes the metrics' values
directly (Histogram's `_sum`, `_buckets`, `_upper_bounds`; Gauge's `_value`): in multiprocess mode
`Histogram.observe`'s checks and linear bucket scan cost as much as its two file writes.
tests/test_labels.py checks the result equals `Histogram.observe`'s.
"""

import os
from bisect import bisect_left
from time import perf_counter

from prometheus_client import Gauge, Histogram

DURATION_BUCKETS_ENV_VAR = "METRICS_DURATION_BUCKETS"
# The OpenTelemetry HTTP semantic conventions' recommended boundaries for request duration.
DEFAULT_DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
UNMATCHED_ROUTE = "__unmatched__"
OTHER_METHOD = "_OTHER"
# Sent when the client went away before the response: nginx's convention, as starlette-exporter.
CLIENT_CLOSED_REQUEST = 499
STANDARD_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)


def parse_duration_buckets(text: str) -> tuple[float, ...]:
    """Parse comma-separated seconds; an empty value means the default buckets."""
    if not text.strip():
        return DEFAULT_DURATION_BUCKETS
    try:
        buckets = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise SystemExit(
            f"app_instrumentation: error: {DURATION_BUCKETS_ENV_VAR}={text} is not a list of "
            "numbers; fix: use comma-separated seconds such as 0.01,0.1,1"
        ) from None
    if any(b <= 0 for b in buckets) or list(buckets) != sorted(set(buckets)):
        raise SystemExit(
            f"app_instrumentation: error: {DURATION_BUCKETS_ENV_VAR}={text} must be positive and "
            "strictly increasing; fix: use comma-separated seconds such as 0.01,0.1,1"
        )
    return buckets


REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests, summed over all workers.",
    ("http_request_method", "http_route", "http_response_status_code"),
    buckets=parse_duration_buckets(os.environ.get(DURATION_BUCKETS_ENV_VAR, "")),
)
ACTIVE_REQUESTS = Gauge(
    "http_server_active_requests",
    "HTTP server requests in progress, summed over live workers.",
    multiprocess_mode="livesum",
)

_METHOD_LABELS = {method: method for method in STANDARD_METHODS}
_active_requests_value = ACTIVE_REQUESTS._value


class DurationSeries:
    """The values of one (method, route, status) histogram child, observed directly."""

    __slots__ = ("_bounds", "_buckets", "_sum")

    def __init__(self, child: Histogram) -> None:
        self._sum = child._sum
        self._buckets = child._buckets
        self._bounds = child._upper_bounds

    def observe(self, seconds: float) -> None:
        self._sum.inc(seconds)
        # The first bucket whose upper bound is >= seconds, as Histogram.observe picks it.
        self._buckets[bisect_left(self._bounds, seconds)].inc(1)


# One series per (method label, route, status): bounded by the route table.
_duration_series: dict[tuple[str, str | None, int], DurationSeries] = {}


def method_label(method: str) -> str:
    """Return the method itself if standard, else `_OTHER`: clients cannot add series."""
    return _METHOD_LABELS.get(method, OTHER_METHOD)


def route_label(uri_template: str | None) -> str:
    """Return the route pattern, or the one value shared by all unmatched requests."""
    return uri_template or UNMATCHED_ROUTE


def request_started() -> float:
    """Count the request as in flight and return its start time."""
    _active_requests_value.inc(1)
    return perf_counter()


def request_finished(method: str, uri_template: str | None, status: int, started: float) -> None:
    """Record a finished request's duration and take it out of the in-flight gauge."""
    elapsed = perf_counter() - started
    key = (method_label(method), uri_template, status)
    series = _duration_series.get(key)
    if series is None:
        series = _duration_series[key] = DurationSeries(
            REQUEST_DURATION.labels(key[0], route_label(uri_template), str(status))
        )
    series.observe(elapsed)
    _active_requests_value.inc(-1)
