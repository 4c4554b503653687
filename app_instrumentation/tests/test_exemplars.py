"""Trace exemplars on http_server_request_duration_seconds, with real multi-worker services."""

import itertools
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app_instrumentation.compaction import compact_dead_worker
from app_instrumentation.exemplars import (
    ARCHIVE_NAME,
    EXEMPLAR_LABEL_CHARACTERS,
    EXEMPLAR_SUFFIX,
    MALFORMED,
    encode_exemplar_file,
    parse_traceparent,
    read_exemplar_file,
)
from app_instrumentation.render import render
from sanic_testkit.baseline import extract_baseline
from sanic_testkit.service import SanicService

OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}
BUCKET_LINE = re.compile(
    r'http_server_request_duration_seconds_bucket\{http_request_method="(?P<method>[^"]*)",'
    r'http_response_status_code="(?P<status>[^"]*)",http_route="(?P<route>[^"]*)",'
    r'le="(?P<le>[^"]*)"\} (?P<count>\S+)'
    r'(?: # \{span_id="(?P<span>[0-9a-f]{16})",trace_id="(?P<trace>[0-9a-f]{32})"\}'
    r" (?P<value>\S+) (?P<timestamp>\S+))?"
)
MALFORMED_METRIC = "http_server_malformed_traceparents_total"
# Route sent -> (route label, status) its requests fall in, in the demo app.
ROUTES = {
    "/": ("/", "200"),
    "/items/7": ("/items/<item_id:int>", "200"),
    "/api/v1/users/ada": ("/api/v1/users/<name:str>", "200"),
    "/boom": ("/boom", "500"),
    "/missing": ("__unmatched__", "404"),
    "/slow?seconds=0.03": ("/slow", "200"),
    "/slow?seconds=0.12": ("/slow", "200"),
}
_trace_numbers = itertools.count(1)


def traceparent(sampled: bool = True) -> tuple[str, str]:
    """(a new trace id, a traceparent header carrying it)."""
    trace_id = f"{next(_trace_numbers):032x}"
    return trace_id, f"00-{trace_id}-{'ab' * 8}-{'01' if sampled else '00'}"


def send(service: SanicService, path: str, header: str | None) -> None:
    service.request("GET", path, {"traceparent": header} if header else {})


def buckets(body: bytes) -> dict[tuple[str, str, str], dict]:
    """{(route, status, le): {"count", "trace", "value"}} of the GET duration buckets; count is
    the bucket's own (not cumulative)."""
    found = {}
    below = {}
    for match in BUCKET_LINE.finditer(body.decode()):
        if match["method"] == "GET":
            series = (match["route"], match["status"])
            cumulative = float(match["count"])
            found[(*series, match["le"])] = {
                "count": cumulative - below.get(series, 0.0),
                "trace": match["trace"],
                "value": float(match["value"]) if match["value"] else None,
            }
            below[series] = cumulative
    return found


def scrape(service: SanicService, headers: dict | None = None) -> bytes:
    status, _, body = service.request("GET", "/metrics", headers or OPENMETRICS)
    assert status == 200, body
    return body


def lower_bound(le: str, bounds: list[str]) -> float:
    index = bounds.index(le)
    return float(bounds[index - 1]) if index else float("-inf")


def assert_exact(found: dict, sent: dict[str, tuple[str, str]]) -> None:
    """Every exemplar was sent on its series, and its value lies within its bucket."""
    bounds = []
    for _, _, le in found:
        if le not in bounds:
            bounds.append(le)
    for (route, status, le), bucket in found.items():
        if bucket["trace"] is None:
            continue
        assert sent[bucket["trace"]] == (route, status), (route, status, le)
        assert lower_bound(le, bounds) < bucket["value"] <= float(le), (le, bucket)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"00-{'a1' * 16}-{'b2' * 8}-01", f"00-{'a1' * 16}-{'b2' * 8}-01".encode()),
        (f"00-{'a1' * 16}-{'b2' * 8}-09", f"00-{'a1' * 16}-{'b2' * 8}-09".encode()),
        (f"01-{'a1' * 16}-{'b2' * 8}-03-later", f"00-{'a1' * 16}-{'b2' * 8}-01".encode()),
        (f"01-{'a1' * 16}-{'b2' * 8}-02-later", None),
        (f"00-{'a1' * 16}-{'b2' * 8}-00", None),
        (f"00-{'A1' * 16}-{'b2' * 8}-01", MALFORMED),
        (f"00-{'0' * 32}-{'b2' * 8}-01", MALFORMED),
        (f"00-{'a1' * 16}-{'0' * 16}-01", MALFORMED),
        (f"ff-{'a1' * 16}-{'b2' * 8}-01", MALFORMED),
        (f"00-{'a1' * 16}-{'b2' * 8}-01-extra", MALFORMED),
        ("00-abc-def-01", MALFORMED),
        ("", MALFORMED),
    ],
)
def test_traceparent_is_read_by_the_w3c_rules(header, expected):
    assert parse_traceparent(header) == expected


def test_exemplar_labels_stay_within_the_openmetrics_limit():
    assert EXEMPLAR_LABEL_CHARACTERS == 63 <= 128


@pytest.fixture(scope="module")
def service():
    with SanicService(workers=4) as running:
        yield running


def test_exemplars_sit_on_the_bucket_route_and_status_their_request_fell_in(service):
    sent = {}
    for path in list(ROUTES) * 6:
        trace_id, header = traceparent()
        sent[trace_id] = ROUTES[path]
        send(service, path, header)

    found = buckets(scrape(service))

    assert_exact(found, sent)
    with_exemplar = {(route, status) for (route, status, _), b in found.items() if b["trace"]}
    assert with_exemplar == set(ROUTES.values())
    slow = {le for (route, _, le), b in found.items() if route == "/slow" and b["trace"]}
    assert {"0.05", "0.25"} <= slow


def test_newest_exemplar_wins_across_workers(service):
    sent = {}
    for _ in range(40):
        trace_id, header = traceparent()
        sent[trace_id] = ROUTES["/items/7"]
        send(service, "/items/7", header)
    last = trace_id

    found = buckets(scrape(service))

    traces = {b["trace"] for (route, _, _), b in found.items() if route == "/items/<item_id:int>"}
    assert last in traces
    assert len(list(Path(service.multiprocess_dir).glob(f"*{EXEMPLAR_SUFFIX}"))) >= 2


def test_unsampled_and_absent_traceparents_record_nothing_and_malformed_are_counted(service):
    def malformed_count() -> float:
        for line in scrape(service).decode().splitlines():
            if line.startswith(MALFORMED_METRIC + " "):
                return float(line.split()[1])
        return 0.0

    before = malformed_count()
    unsampled, header = traceparent(sampled=False)
    send(service, "/api/v1/users/grace", header)
    send(service, "/api/v1/users/grace", None)
    for bad in ("garbage", f"00-{'A' * 32}-{'b' * 16}-01", "00-" + "1" * 60):
        status, _, _ = service.request("GET", "/api/v1/users/grace", {"traceparent": bad})
        assert status == 200

    body = scrape(service)

    assert malformed_count() == before + 3
    assert unsampled.encode() not in body


def test_text_exposition_is_byte_for_byte_what_todays_code_renders(service, tmp_path):
    for path in ROUTES:
        send(service, path, traceparent()[1])
    baseline = extract_baseline(tmp_path)
    # A still copy: the live directory changes between two renders (a worker's first file).
    snapshot = shutil.copytree(service.multiprocess_dir, tmp_path / "snapshot")
    script = (
        "import sys; from app_instrumentation.render import render;"
        " sys.stdout.buffer.write(render(sys.argv[1], '', '').body)"
    )
    environment = {**os.environ, "PYTHONPATH": str(baseline)}

    today = subprocess.run(
        [sys.executable, "-c", script, snapshot],
        env=environment,
        capture_output=True,
        check=True,
    ).stdout
    current = render(str(snapshot), "", "").body

    assert b"_bucket{" in current
    assert current == today
    assert b"trace_id" not in current


def test_recycled_workers_keep_exemplars_on_99_percent_of_combinations():
    sent = {}
    paths = list(ROUTES)
    # Eight workers, each recycled after 60 requests. The supervisor replaces workers at its own
    # pace (each replacement starts before its old worker stops), so the load goes on, a round of
    # ten requests per route at a time, until it has replaced eight of them or three minutes passed.
    with SanicService(workers=8, SANIC_WORKER_MAX_REQUESTS="60") as recycling:
        before = buckets(scrape(recycling))
        deadline = time.monotonic() + 180
        while recycles(recycling) < 8 and time.monotonic() < deadline:
            threads = [
                threading.Thread(target=send_batch, args=(recycling, paths[offset::2], sent))
                for offset in range(2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        after = buckets(scrape(recycling))
        recycled = recycles(recycling)

    observed = [key for key, b in after.items() if b["count"] > before.get(key, {}).get("count", 0)]
    assert recycled >= 8
    assert_exact(after, sent)
    with_sent = [key for key in observed if after[key]["trace"] in sent]
    assert len(observed) >= 7
    assert len(with_sent) >= 0.99 * len(observed), sorted(set(observed) - set(with_sent))


def recycles(service: SanicService) -> float:
    """The workers the service's supervisor replaced for their request count, so far."""
    return service.scrape().get(
        ("sanic_worker_restarts_total", frozenset({("reason", "recycled")})), 0.0
    )


def send_batch(service: SanicService, paths: list[str], sent: dict) -> None:
    for path in paths * 10:
        trace_id, header = traceparent()
        sent[trace_id] = ROUTES[path]
        send(service, path, header)


def test_setting_off_records_and_merges_no_exemplar():
    with SanicService(workers=2, METRICS_EXEMPLARS="off") as off:
        for path in ROUTES:
            send(off, path, traceparent()[1])
        send(off, "/", "garbage")
        body = scrape(off)
        files = list(Path(off.multiprocess_dir).glob(f"*{EXEMPLAR_SUFFIX}"))

    assert b"_bucket{" in body
    assert b"trace_id" not in body
    assert MALFORMED_METRIC.encode() not in body
    assert files == []


def test_a_departed_workers_exemplars_fold_into_the_archive_newest_winning(tmp_path):
    dead_pid = 999_999
    older, newer = f"00-{'1' * 32}-{'a' * 16}-01".encode(), f"00-{'2' * 32}-{'b' * 16}-01".encode()
    kept = f"00-{'3' * 32}-{'c' * 16}-01".encode()
    fast, slow = ("GET", "/", "200", "0.005"), ("GET", "/", "200", "0.5")
    archive = tmp_path / ARCHIVE_NAME
    archive.write_bytes(encode_exemplar_file({fast: (newer, 0.001, 20.0), slow: (kept, 0.3, 5.0)}))
    dead = tmp_path / f"{dead_pid}{EXEMPLAR_SUFFIX}"
    dead.write_bytes(encode_exemplar_file({fast: (older, 0.002, 10.0), slow: (newer, 0.4, 30.0)}))

    compact_dead_worker(str(tmp_path), dead_pid)

    assert not dead.exists()
    assert read_exemplar_file(str(archive)) == {
        fast: (newer, 0.001, 20.0),
        slow: (newer, 0.4, 30.0),
    }
