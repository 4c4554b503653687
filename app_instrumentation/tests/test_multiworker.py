"""The demo app behind the zero-change factory with 4 real workers: metrics summed over workers."""

import asyncio
import contextlib
import itertools
import os
import random
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from sanic_testkit.service import (
    SanicService,
    disconnect_during,
    parse_exposition,
    request_counts,
    send_requests,
)

WORKERS = 4
ACTIVE = ("http_server_active_requests", frozenset())
LIVE = ("sanic_workers_live", frozenset())
CONFIGURED = ("sanic_workers_configured", frozenset())
SERIES_FLOOD_REQUESTS = 100_000
SERIES_FLOOD_SECONDS = 120


@pytest.fixture(scope="module")
def service():
    with SanicService(workers=WORKERS) as running:
        yield running


def delta(before: dict, after: dict) -> dict:
    changed = {key: after[key] - before.get(key, 0) for key in after}
    return {key: value for key, value in changed.items() if value}


def wait_for(condition, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def test_counts_every_request_exactly_once_per_route_method_and_status(service):
    plan = Counter(
        {
            ("GET", "/"): 120,
            ("GET", "/api/v1/users/ada"): 60,
            ("GET", "/api/v1/users/grace"): 60,
            ("GET", "/boom"): 40,
            ("POST", "/"): 30,
            ("FOOBAR", "/items/1"): 30,
            ("GET", "/slow?seconds=0.05"): 20,
            ("GET", "/stream"): 20,
        }
    )
    for item_id in range(100):
        plan[("GET", f"/items/{item_id}")] += 1
    for missing in range(80):
        plan[("GET", f"/missing/{missing}")] += 1
    requests = list(plan.elements())
    random.Random(3).shuffle(requests)
    disconnects = 6
    expected = {
        ("/", "GET", "200"): 120,
        ("/api/v1/users/<name:str>", "GET", "200"): 120,
        ("/boom", "GET", "500"): 40,
        ("__unmatched__", "POST", "405"): 30,
        ("__unmatched__", "_OTHER", "405"): 30,
        ("/slow", "GET", "200"): 20,
        ("/stream", "GET", "200"): 20,
        ("/items/<item_id:int>", "GET", "200"): 100,
        ("__unmatched__", "GET", "404"): 80,
        ("/slow", "GET", "499"): disconnects,
    }
    before = request_counts(service.scrape())

    async def load():
        disconnecting = [
            disconnect_during(service.port, "/slow?seconds=5", after=0.3)
            for _ in range(disconnects)
        ]
        results = await asyncio.gather(
            send_requests(service.port, requests, connections=16), *disconnecting
        )
        return results[0]

    statuses = asyncio.run(load())

    assert Counter(statuses) == {200: 380, 500: 40, 405: 60, 404: 80}
    wait_for(lambda: delta(before, request_counts(service.scrape())) == expected, timeout=10)
    assert delta(before, request_counts(service.scrape())) == expected
    assert wait_for(lambda: service.scrape()[ACTIVE] == 0, timeout=10)


def test_in_flight_gauge_sums_requests_in_progress_over_workers(service):
    async def scrape_during_slow_requests():
        slow = [
            send_requests(service.port, [("GET", "/slow?seconds=1.5")], connections=1)
            for _ in range(3)
        ]
        tasks = [asyncio.ensure_future(request) for request in slow]
        await asyncio.sleep(0.7)
        during = await asyncio.to_thread(service.scrape)
        await asyncio.gather(*tasks)
        return during

    during = asyncio.run(scrape_during_slow_requests())

    assert during[ACTIVE] == 3
    assert wait_for(lambda: service.scrape()[ACTIVE] == 0, timeout=10)


def test_metrics_route_is_not_counted(service):
    for _ in range(5):
        service.scrape()

    routes = {route for route, _, _ in request_counts(service.scrape())}

    assert "/metrics" not in routes


def test_text_exposition_uses_prometheus_client_versioned_content_type(service):
    status, headers, body = service.request("GET", "/metrics")

    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=")
    assert b"# EOF" not in body


def test_openmetrics_is_served_when_the_scraper_asks_for_it(service):
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"

    status, headers, body = service.request("GET", "/metrics", {"Accept": accept})

    assert status == 200
    assert headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")


def test_gzip_is_used_when_accepted(service):
    import gzip

    status, headers, body = service.request("GET", "/metrics", {"Accept-Encoding": "gzip"})

    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert parse_exposition(gzip.decompress(body).decode())[LIVE] == WORKERS


@pytest.mark.parametrize(
    "accept",
    ["", "application/openmetrics-text; version=1.0.0"],
    ids=["text", "openmetrics"],
)
def test_promtool_check_metrics_reports_nothing(service, accept):
    service.request("GET", "/items/7")
    service.request("GET", "/nowhere")
    _, _, body = service.request("GET", "/metrics", {"Accept": accept} if accept else {})

    result = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30
    )

    # promtool reads the text format only: an OpenMetrics counter's family has no _total, so
    # promtool finds no help for its samples. Anything else it says is a finding.
    counters = re.findall(rb"^# TYPE (\S+) counter$", body, re.MULTILINE) if accept else []
    misread = {name + b"_total no help text" for name in counters}
    findings = set(result.stderr.splitlines()) - misread
    assert (result.stdout, findings) == (b"", set())
    assert result.returncode == (3 if counters else 0)


def test_distinct_random_paths_do_not_add_series(service):
    # Every worker serves an unmatched request first, so that the series exists in every file.
    # The kernel hands connections to workers unevenly (one may get none of 16), so warm-up
    # rounds go on until every worker has written its histogram file.
    warm_up = [("GET", f"/warm-up-unmatched/{n}") for n in range(400)]

    def every_worker_warmed_up() -> bool:
        asyncio.run(send_requests(service.port, warm_up, connections=16))
        histogram_pids = {
            match.group(1)
            for path in Path(service.multiprocess_dir).iterdir()
            if (match := re.fullmatch(r"histogram_(\d+)\.db", path.name))
        }
        return len(histogram_pids) >= WORKERS

    assert wait_for(every_worker_warmed_up, timeout=60, interval=0)
    before = wait_for(lambda: (samples := service.scrape())[ACTIVE] == 0 and samples, timeout=10)
    file_sizes = {
        path.name: path.stat().st_size for path in Path(service.multiprocess_dir).iterdir()
    }
    rng = random.Random(100_000)
    paths = [("GET", f"/{rng.getrandbits(64):016x}/{n}") for n in range(SERIES_FLOOD_REQUESTS)]

    started = time.monotonic()
    statuses = asyncio.run(
        asyncio.wait_for(
            send_requests(service.port, paths, connections=8, pipeline=50),
            timeout=SERIES_FLOOD_SECONDS,
        )
    )
    elapsed = time.monotonic() - started
    print(f"\n{SERIES_FLOOD_REQUESTS} requests to distinct paths took {elapsed:.1f}s")
    # A request is recorded just after its response is sent.
    after = wait_for(lambda: (samples := service.scrape())[ACTIVE] == 0 and samples, timeout=10)

    assert Counter(statuses) == {404: SERIES_FLOOD_REQUESTS}
    assert set(after) == set(before)
    assert delta(request_counts(before), request_counts(after)) == {
        ("__unmatched__", "GET", "404"): SERIES_FLOOD_REQUESTS
    }
    assert {
        path.name: path.stat().st_size for path in Path(service.multiprocess_dir).iterdir()
    } == file_sizes


def test_killed_worker_is_replaced_and_totals_never_decrease(service):
    workers_before = service.worker_pids()
    assert len(workers_before) == WORKERS
    victim_name, victim_pid = sorted(workers_before.items())[0]
    totals: list[float] = []
    stop_load = threading.Event()

    def load():
        requests = [("GET", f"/items/{n}") for n in range(200)]
        deadline = time.monotonic() + 20
        while not stop_load.is_set() and time.monotonic() < deadline:
            # Connections served by the killed worker are reset mid-request.
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                asyncio.run(send_requests(service.port, requests, connections=4))

    def total_requests() -> float:
        return sum(request_counts(service.scrape()).values())

    loader = threading.Thread(target=load)
    loader.start()
    try:
        for _ in range(10):
            totals.append(total_requests())
            time.sleep(0.1)
        os.kill(victim_pid, signal.SIGKILL)
        for _ in range(30):
            totals.append(total_requests())
            time.sleep(0.1)
    finally:
        stop_load.set()
        loader.join(timeout=30)

    assert wait_for(lambda: service.scrape()[LIVE] == WORKERS, timeout=15)
    workers_after = wait_for(lambda: len(p := service.worker_pids()) == WORKERS and p, timeout=15)
    assert all(later >= earlier for earlier, later in itertools.pairwise(totals)), totals
    assert totals[-1] > totals[0]
    assert service.scrape()[CONFIGURED] == WORKERS
    assert workers_after[victim_name] != victim_pid
    assert victim_pid not in workers_after.values()
    assert not Path(service.multiprocess_dir, f"gauge_livesum_{victim_pid}.db").exists()
    assert service.request("GET", "/")[0] == 200
    assert "exited with code -9" in service.log()
