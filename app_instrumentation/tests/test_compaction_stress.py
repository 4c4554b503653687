"""Worker deaths and compactions while a client scrapes: totals never go down and end exact."""

import itertools
import queue
import random
import tempfile
import threading
import time
from pathlib import Path

from app_instrumentation.collector import SafeMultiProcessCollector
from app_instrumentation.compaction import compact_dead_worker
from sanic_testkit.worker_farm import WorkerFarm

WORKER_DEATHS = 240
WORKERS_PER_BATCH = 4
TIME_LIMIT_SECONDS = 90
METRICS = [
    {"kind": "counter", "name": "requests", "labels": ["route"]},
    {"kind": "histogram", "name": "duration_seconds", "labels": ["route"], "buckets": [0.5, 2]},
]


def totals(path):
    """(requests, observations, observed seconds) summed over every series of one scrape."""
    requests = observations = seconds = 0.0
    for metric in SafeMultiProcessCollector(None, path=path).collect():
        for sample in metric.samples:
            if sample.name == "requests_total":
                requests += sample.value
            elif sample.name == "duration_seconds_count":
                observations += sample.value
            elif sample.name == "duration_seconds_sum":
                seconds += sample.value
    return requests, observations, seconds


def test_scrapes_stay_monotonic_and_exact_through_worker_deaths_and_compactions():
    rng = random.Random(4)
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    dead_pids = queue.Queue()
    done = threading.Event()
    scrapes = []

    with (
        tempfile.TemporaryDirectory(dir="/dev/shm", prefix="test_stress_") as path,
        WorkerFarm() as farm,
    ):

        def scrape_until_done():
            while not done.is_set() and time.monotonic() < deadline:
                scrapes.append(totals(path))

        def compact_until_done():
            while not (done.is_set() and dead_pids.empty()) and time.monotonic() < deadline:
                try:
                    compact_dead_worker(path, dead_pids.get(timeout=0.05))
                except queue.Empty:
                    continue

        threads = [
            threading.Thread(target=scrape_until_done),
            threading.Thread(target=compact_until_done),
        ]
        for thread in threads:
            thread.start()
        expected = [0, 0, 0.0]
        try:
            for _ in range(WORKER_DEATHS // WORKERS_PER_BATCH):
                operations = []
                for route in ("a", "b", "c"):
                    served = rng.randint(1, 5)
                    operations += [[0, [route], "inc", 1]] * served
                    operations += [[1, [route], "observe", 0.25 * served]] * served
                    expected[0] += served * WORKERS_PER_BATCH
                    expected[1] += served * WORKERS_PER_BATCH
                    expected[2] += 0.25 * served * served * WORKERS_PER_BATCH
                for pid in farm.run_workers(path, METRICS, operations, count=WORKERS_PER_BATCH):
                    dead_pids.put(pid)
        finally:
            done.set()
            for thread in threads:
                thread.join(timeout=TIME_LIMIT_SECONDS)

        assert time.monotonic() < deadline, "stress test ran out of time"
        assert dead_pids.empty()
        final = totals(path)
        files = sorted(p.name for p in Path(path).iterdir())

    assert len(scrapes) > 50
    decreases = [
        (before, after)
        for before, after in itertools.pairwise(scrapes)
        if any(b > a for b, a in zip(before, after, strict=True))
    ]
    assert decreases == []
    assert final == tuple(expected)
    assert files == ["counter_archive.db", "histogram_archive.db"]
