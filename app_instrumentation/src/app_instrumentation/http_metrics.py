"""HTTP server metrics after the OpenTelemetry HTTP semantic conventions, and their hot path.

Importing this module declares the metrics and therefore opens this process's files in
PROMETHEUS_MULTIPROC_DIR: call `multiprocess_dir.require_multiprocess_dir()` first.

The hot path is two plain functions, `request_started()` and `request_finished(...)`, so a
benchmark can time exactly what a request costs without a server. It writes the metrics' values
directly (Histogram's `_sum`, `_buckets`, `_upper_bounds`; Gauge's `_value`): in multiprocess mode
`Histogram.observe`'s checks and linear bucket scan cost as much as its two file writes.
It also writes each value's 16 bytes into its mmap itself (`adder`): prometheus_client's
`inc` takes a lock and calls `os.getpid()` (a system call) on every write to notice a fork, 0.8 us
against 0.1 us. Both are safe to skip here: the writes come from the event loop's thread only, a
file that grows gets a new mmap but the old one stays open onto the same pages, and a fork is
noticed once, by `os.register_at_fork`, after which this process falls back to `inc`.
tests/test_labels.py checks the result equals `Histogram.observe`'s, in files too.
"""

import os
import struct
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
_pack_value = struct.Struct("dd").pack_into  # value and timestamp, as mmap_dict writes them
_forked = False


def adder(value):
    """The cheapest correct `value.inc`: for a multiprocess value, one that writes its file's
    16 bytes itself, without prometheus_client's lock and getpid."""
    if _forked or not getattr(value, "_multiprocess", False):
        return value.inc
    file = value._file
    position = file._positions[value._key]

    def add(amount: float) -> None:
        value._value += amount
        # file._m, not a copy: a file that grows gets a new mmap (the old one stays valid).
        _pack_value(file._m, position, value._value, 0.0)

    return add


def _after_fork_in_child() -> None:
    # A forked child shares the parent's mmaps: from now on, prometheus_client's inc, which
    # notices the new pid and opens this process's own files.
    global _forked, _add_active_requests
    _forked = True
    _duration_series.clear()
    _add_active_requests = ACTIVE_REQUESTS._value.inc


_add_active_requests = adder(ACTIVE_REQUESTS._value)
os.register_at_fork(after_in_child=_after_fork_in_child)


class DurationSeries:
    """The values of one (method, route, status) histogram child, observed directly."""

    __slots__ = ("_add_sum", "_bounds", "_bucket_adds")

    def __init__(self, child: Histogram) -> None:
        self._add_sum = adder(child._sum)
        self._bucket_adds = [adder(bucket) for bucket in child._buckets]
        self._bounds = child._upper_bounds

    def observe(self, seconds: float) -> None:
        self._add_sum(seconds)
        # The first bucket whose upper bound is >= seconds, as Histogram.observe picks it.
        self._bucket_adds[bisect_left(self._bounds, seconds)](1.0)


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
    _add_active_requests(1.0)
    return perf_counter()


def request_finished(
    method: str, uri_template: str | None, status: int, started: float, in_flight: bool = True
) -> None:
    """Record a finished request's duration and, if it was, take it out of the in-flight gauge."""
    elapsed = perf_counter() - started
    key = (_METHOD_LABELS.get(method, OTHER_METHOD), uri_template, status)  # method_label()
    series = _duration_series.get(key)
    if series is None:
        series = _duration_series[key] = DurationSeries(
            REQUEST_DURATION.labels(key[0], route_label(uri_template), str(status))
        )
    series.observe(elapsed)
    if in_flight:
        _add_active_requests(-1.0)


def request_not_counted() -> None:
    """Take a request that turned out not to be counted out of the in-flight gauge."""
    _add_active_requests(-1.0)
