"""Label normalisation: series are bounded by the route table, whatever clients send."""

import os
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app_instrumentation import http_metrics
from app_instrumentation.http_metrics import (
    OTHER_METHOD,
    UNMATCHED_ROUTE,
    parse_duration_buckets,
    process_http_metrics,
    route_label,
)
from app_instrumentation.prometheus_client_internals import direct_adder


def method_label(method):
    """The method label the hot path records for a request with `method`, on a route of its own."""
    metrics = process_http_metrics()
    route = f"/method-label/{method!r}"
    metrics.request_finished(method, route, 200, metrics.request_started())
    (family,) = metrics.request_duration.collect()
    return {
        sample.labels["http_request_method"]
        for sample in family.samples
        if sample.labels["http_route"] == route
    }.pop()


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
    metrics = process_http_metrics()
    started = metrics.request_started()
    for method in ("FOOBAR", "BAZ", "QUUX"):
        metrics.request_finished(method, None, 405, started)
        metrics.request_started()

    child = metrics.request_duration.labels(OTHER_METHOD, UNMATCHED_ROUTE, "405")
    assert [key for key in metrics.duration_series if key[2] == 405] == [(OTHER_METHOD, None, 405)]
    assert child._sum.get() > 0
    assert [s.value for s in child.collect()[0].samples if s.name.endswith("_count")] == [3]


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


def test_direct_observation_matches_histogram_observe():
    seconds = [0.0, 0.001, 0.005, 0.0050001, 0.07, 0.075, 1.0, 9.99, 10.0, 10.5, 3600.0]
    reference = Histogram("reference_duration_seconds", "Reference.", registry=None)
    direct = Histogram("direct_duration_seconds", "Direct.", registry=None)
    series = http_metrics.DurationSeries(direct, direct_adder, ("GET", "/", "200"))

    for value in seconds:
        reference.observe(value)
        series.observe(value)

    def counts(histogram):
        samples = histogram.collect()[0].samples
        return [(s.labels, s.value) for s in samples if not s.name.endswith("_created")]

    assert counts(direct) == counts(reference)


def run_with_multiprocess_dir(script, multiprocess_dir):
    """Run `script` in a fresh Python whose prometheus_client writes into multiprocess_dir (it
    picks its value backend at import); returns what the script printed."""
    return subprocess.run(
        [sys.executable, "-c", script],
        env=dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(multiprocess_dir)),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_direct_file_writes_are_read_back_by_prometheus_client_in_multiprocess_mode(tmp_path):
    """In a process with a multiprocess directory the hot path writes the mmap files itself,
    next to prometheus_client's own writes to the same files: the stock merge reads them all."""
    script = """
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from app_instrumentation import http_metrics as module
from app_instrumentation.http_metrics import process_http_metrics

# A clock that stands still: each duration is then exactly its backdating, however long the
# process stalls between start and finish (a loaded machine stalled one 0.001 s request past 5 ms).
module.perf_counter = lambda: 1000.0
http_metrics = process_http_metrics()
# Same file as the in-flight gauge (gauge_livesum_<pid>.db), written by prometheus_client.
reference = Gauge("reference_in_flight", "Reference.", multiprocess_mode="livesum")
for index in range(300):
    seconds = (0.001, 0.02, 0.3, 7.0, 12.0)[index % 5]
    started = http_metrics.request_started()
    reference.inc()
    if index % 7:
        reference.dec()
    # Backdated start: the hot path measures the duration from it.
    http_metrics.request_finished(("GET", "FOOBAR")[index // 150], "/r", 200, started - seconds)
registry = CollectorRegistry()
MultiProcessCollector(registry)
print(generate_latest(registry).decode())
"""
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(run_with_multiprocess_dir(script, tmp_path))
        for sample in family.samples
    }

    def duration(suffix, method, *extra):
        labels = (
            ("http_request_method", method),
            ("http_response_status_code", "200"),
            ("http_route", "/r"),
        )
        return samples[(f"http_server_request_duration_seconds_{suffix}", labels + extra)]

    for method in ("GET", "_OTHER"):
        assert duration("count", method) == 150
        assert [
            duration("bucket", method, ("le", le)) for le in ("0.005", "0.025", "0.5", "7.5")
        ] == [
            30,
            60,
            90,
            120,
        ]
        assert duration("sum", method) == pytest.approx(30 * (0.001 + 0.02 + 0.3 + 7.0 + 12.0))
    assert samples[("http_server_active_requests", ())] == 0
    assert samples[("reference_in_flight", ())] == len(range(0, 300, 7))


def test_a_forked_child_records_into_its_own_files_and_the_parent_keeps_its_counts(tmp_path):
    """The direct writes go to the parent's mmaps, which a forked child shares: after a fork the
    child falls back to prometheus_client's inc, which opens the child's own files."""
    script = """
import os
from app_instrumentation.http_metrics import process_http_metrics

http_metrics = process_http_metrics()

def serve_one():
    http_metrics.request_finished("GET", "/r", 200, http_metrics.request_started())

serve_one()
serve_one()
child = os.fork()
if child == 0:
    serve_one()
    os._exit(0)
os.waitpid(child, 0)
serve_one()
print(os.getpid(), child)
"""
    parent, child = run_with_multiprocess_dir(script, tmp_path).split()
    assert sorted(path.name for path in tmp_path.glob("*.db")) == sorted(
        f"{kind}_{pid}.db" for kind in ("gauge_livesum", "histogram") for pid in (parent, child)
    )

    def requests_and_in_flight(pid):
        """What one process's own files hold, merged alone by the stock collector."""
        alone = tmp_path / f"alone_{pid}"
        alone.mkdir()
        for kind in ("histogram", "gauge_livesum"):
            (tmp_path / f"{kind}_{pid}.db").rename(alone / f"{kind}_{pid}.db")
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        samples = {
            sample.name: sample.value
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            for sample in family.samples
        }
        return (
            samples["http_server_request_duration_seconds_count"],
            samples["http_server_active_requests"],
        )

    assert requests_and_in_flight(parent) == (3, 0)
    assert requests_and_in_flight(child) == (1, 0)
