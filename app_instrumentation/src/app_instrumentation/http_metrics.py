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

from prometheus_client import Counter, Gauge, Histogram

from app_instrumentation.exemplars import (
    DURATION_LABELS,
    DURATION_METRIC,
    MALFORMED,
    ExemplarFile,
    current_span_traceparent,
    exemplar_key,
    parse_traceparent,
)
from app_instrumentation.prometheus_client_internals import (
    direct_adder,
    gauge_value,
    histogram_values,
    locked_adder,
    values_are_in_memory,
)
from app_instrumentation.settings import DURATION_BUCKETS, EXEMPLARS, MULTIPROC_DIR

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

    __slots__ = ("_add_sum", "_bounds", "_bucket_adds", "_exemplar_slots", "_label_values")

    def __init__(self, child: Histogram, adder: Callable, label_values: tuple[str, str, str]):
        """adder: prometheus_client_internals.direct_adder, or locked_adder after a fork."""
        sum_value, bucket_values, self._bounds = histogram_values(child)
        self._add_sum = adder(sum_value)
        self._bucket_adds = [adder(bucket) for bucket in bucket_values]
        self._label_values = label_values
        # Per bucket: where its exemplar sits in the exemplar file, once it has one.
        self._exemplar_slots: list[int | None] = [None] * len(bucket_values)

    def observe(self, seconds: float) -> None:
        self._add_sum(seconds)
        # The first bucket whose upper bound is >= seconds, as Histogram.observe picks it.
        self._bucket_adds[bisect_left(self._bounds, seconds)](1.0)

    def observe_with_exemplar(
        self, seconds: float, traceparent: bytes, exemplar_file: ExemplarFile
    ) -> None:
        """Observe, and make this request the latest exemplar of the bucket it fell in."""
        self._add_sum(seconds)
        bucket = bisect_left(self._bounds, seconds)
        self._bucket_adds[bucket](1.0)
        slot = self._exemplar_slots[bucket]
        if slot is None:
            key = exemplar_key(self._label_values, self._bounds[bucket])
            slot = self._exemplar_slots[bucket] = exemplar_file.slot(key)
        exemplar_file.write(slot, traceparent, seconds)


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
        "exemplars_on",
        "request_duration",
        "request_finished",
        "request_not_counted",
        "request_started",
    )

    def __init__(
        self, duration_buckets: tuple[float, ...], exemplars_dir: str | None = None
    ) -> None:
        """exemplars_dir: where this process keeps its exemplar file; None: no exemplars."""
        request_duration = self.request_duration = Histogram(
            DURATION_METRIC,
            "Duration of HTTP server requests, summed over all workers.",
            DURATION_LABELS,
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
        exemplar_file = ExemplarFile(exemplars_dir) if exemplars_dir else None
        # Whether a request without a traceparent may still have a span (opentelemetry-api).
        spans = current_span_traceparent is not None

        def after_fork_in_child() -> None:
            # A forked child shares the parent's mmaps: from now on, prometheus_client's inc,
            # which notices the new pid and opens this process's own files.
            nonlocal adder, add_active_requests, exemplar_file
            adder = locked_adder
            duration_series.clear()
            add_active_requests = adder(gauge_value(active_requests))
            exemplar_file = ExemplarFile(exemplars_dir) if exemplars_dir else None

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
            traceparent: str | None = None,
        ) -> None:
            """Record a finished request's duration and, if it was, take it out of the in-flight
            gauge. A method outside the standard set is labelled _OTHER: clients cannot add
            series. traceparent: the request's W3C header, for its bucket's exemplar."""
            elapsed = perf_counter() - started
            key = (method_labels.get(method, OTHER_METHOD), uri_template, status)
            series = duration_series.get(key)
            if series is None:
                label_values = (key[0], route_label(uri_template), str(status))
                series = duration_series[key] = DurationSeries(
                    request_duration.labels(*label_values), adder, label_values
                )
            # Exemplars off is one test here: the path of a service without them.
            if exemplar_file is None or (traceparent is None and not spans):
                series.observe(elapsed)
            else:
                sampled = sampled_traceparent(traceparent)
                if sampled is None:
                    series.observe(elapsed)
                else:
                    series.observe_with_exemplar(elapsed, sampled, exemplar_file)
            if in_flight:
                add_active_requests(-1.0)

        def request_not_counted() -> None:
            """Take a request that turned out not to be counted out of the in-flight gauge."""
            add_active_requests(-1.0)

        self.request_started = request_started
        self.exemplars_on = exemplars_dir is not None
        self.request_finished = request_finished
        self.request_not_counted = request_not_counted


def sampled_traceparent(traceparent: str | None) -> bytes | None:
    """The traceparent of a request's exemplar: the current OpenTelemetry span's when one is
    recording and sampled, else its sampled header's; a malformed header is counted."""
    if current_span_traceparent is not None:
        span = current_span_traceparent()
        if span is not None:
            return span
    if traceparent is None:
        return None
    sampled = parse_traceparent(traceparent)
    if sampled is MALFORMED:
        malformed_traceparents().inc()
        return None
    return sampled


@functools.cache
def malformed_traceparents() -> Counter:
    """Declared at the first malformed header, so that the exposition of a service that never
    receives one is what it was before exemplars."""
    return Counter(
        "http_server_malformed_traceparents",
        "Requests whose W3C traceparent header was malformed; they carry no exemplar.",
    )


@functools.cache
def process_http_metrics() -> HttpMetrics:
    """This process's HttpMetrics, built at the first call: call `require_multiprocess_dir()`
    first. Built once, since prometheus_client keeps every value it creates for the process's
    life and a registry refuses a second metric of the same name."""
    # In-memory values (no multiprocess directory) have no merge to read an exemplar file.
    exemplars_on = EXEMPLARS.read() == "on" and not values_are_in_memory()
    exemplars_dir = MULTIPROC_DIR.read() if exemplars_on else None
    return HttpMetrics(DURATION_BUCKETS.read(), exemplars_dir)
