"""HTTP server metrics after the OpenTelemetry HTTP semantic conventions, and their hot path.

`process_http_metrics()` declares the metrics, once per process, and therefore opens this process's
files in PROMETHEUS_MULTIPROC_DIR: `instrument()` calls it after `require_multiprocess_dir()`.

The hot path is two plain functions, `request_started()` and `request_finished(...)`, so a
benchmark can time exactly what a request costs without a server. It writes the metrics' values
directly (a histogram child's sum and bucket values): in multiprocess mode
`Histogram.observe`'s checks and linear bucket scan cost as much as its two file writes.
It also writes each value's 16 bytes into its mmap itself (`direct_adder`): prometheus_client's
`inc` takes a lock and calls `os.getpid()` (a system call) on every write to notice a fork, 0.8 us
against 0.1 us. Both are safe to skip here: the writes come from the event loop's thread only, a
file that grows gets a new mmap but the old one stays open onto the same pages, and a fork is
noticed once, by `os.register_at_fork`, after which this process falls back to `inc`.
tests/test_labels.py checks the result equals `Histogram.observe`'s, in files too.
"""

import functools
import os
from bisect import bisect_left
from collections.abc import Callable
from time import perf_counter

from prometheus_client import Gauge, Histogram

from app_instrumentation.prometheus_client_internals import (
    direct_adder,
    gauge_value,
    histogram_values,
    locked_adder,
)
from app_instrumentation.settings import DURATION_BUCKETS

DEFAULT_DURATION_BUCKETS = DURATION_BUCKETS.parse(DURATION_BUCKETS.default_text)
UNMATCHED_ROUTE = "__unmatched__"
OTHER_METHOD = "_OTHER"
# Sent when the client went away before the response: nginx's convention, as starlette-exporter.
CLIENT_CLOSED_REQUEST = 499
STANDARD_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)


def parse_duration_buckets(text: str) -> tuple[float, ...]:
    """Comma-separated seconds, by the settings table's rule; empty means the default buckets."""
    return DURATION_BUCKETS.parse(text or DURATION_BUCKETS.default_text)


class DurationSeries:
    """The values of one (method, route, status) histogram child, observed directly."""

    __slots__ = ("_add_sum", "_bounds", "_bucket_adds")

    def __init__(self, child: Histogram, adder: Callable) -> None:
        """adder: prometheus_client_internals.direct_adder, or locked_adder after a fork."""
        sum_value, bucket_values, self._bounds = histogram_values(child)
        self._add_sum = adder(sum_value)
        self._bucket_adds = [adder(bucket) for bucket in bucket_values]

    def observe(self, seconds: float) -> None:
        self._add_sum(seconds)
        # The first bucket whose upper bound is >= seconds, as Histogram.observe picks it.
        self._bucket_adds[bisect_left(self._bounds, seconds)](1.0)


def route_label(uri_template: str | None) -> str:
    """Return the route pattern, or the one value shared by all unmatched requests."""
    return uri_template or UNMATCHED_ROUTE


class HttpMetrics:
    """This process's HTTP server metrics, and the functions that record a request in them.

    `request_started`, `request_finished` and `request_not_counted` are closures over the metrics'
    values, not methods: a caller binds them once and a request costs no attribute lookup.
    """

    __slots__ = (
        "active_requests",
        "duration_series",
        "request_duration",
        "request_finished",
        "request_not_counted",
        "request_started",
    )

    def __init__(self, duration_buckets: tuple[float, ...]) -> None:
        request_duration = self.request_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, summed over all workers.",
            ("http_request_method", "http_route", "http_response_status_code"),
            buckets=duration_buckets,
        )
        active_requests = self.active_requests = Gauge(
            "http_server_active_requests",
            "HTTP server requests in progress, summed over live workers.",
            multiprocess_mode="livesum",
        )
        # One series per (method label, route, status): bounded by the route table.
        duration_series: dict[tuple[str, str | None, int], DurationSeries] = {}
        self.duration_series = duration_series
        method_labels = {method: method for method in STANDARD_METHODS}
        adder = direct_adder
        add_active_requests = adder(gauge_value(active_requests))

        def after_fork_in_child() -> None:
            # A forked child shares the parent's mmaps: from now on, prometheus_client's inc,
            # which notices the new pid and opens this process's own files.
            nonlocal adder, add_active_requests
            adder = locked_adder
            duration_series.clear()
            add_active_requests = adder(gauge_value(active_requests))

        os.register_at_fork(after_in_child=after_fork_in_child)

        def request_started() -> float:
            """Count the request as in flight and return its start time."""
            add_active_requests(1.0)
            return perf_counter()

        def request_finished(
            method: str,
            uri_template: str | None,
            status: int,
            started: float,
            in_flight: bool = True,
        ) -> None:
            """Record a finished request's duration and, if it was, take it out of the in-flight
            gauge. A method outside the standard set is labelled _OTHER: clients cannot add
            series."""
            elapsed = perf_counter() - started
            key = (method_labels.get(method, OTHER_METHOD), uri_template, status)
            series = duration_series.get(key)
            if series is None:
                series = duration_series[key] = DurationSeries(
                    request_duration.labels(key[0], route_label(uri_template), str(status)),
                    adder,
                )
            series.observe(elapsed)
            if in_flight:
                add_active_requests(-1.0)

        def request_not_counted() -> None:
            """Take a request that turned out not to be counted out of the in-flight gauge."""
            add_active_requests(-1.0)

        self.request_started = request_started
        self.request_finished = request_finished
        self.request_not_counted = request_not_counted


@functools.cache
def process_http_metrics() -> HttpMetrics:
    """This process's HttpMetrics, built at the first call: call `require_multiprocess_dir()`
    first. Built once, since prometheus_client keeps every value it creates for the process's
    life and a registry refuses a second metric of the same name."""
    return HttpMetrics(DURATION_BUCKETS.read())
