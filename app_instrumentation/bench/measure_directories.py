"""Measurements on metric directories, no server: scrape time, compaction, per-request cost.

Directories are written by real prometheus_client writers (sanic_testkit.worker_farm).
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from app_instrumentation.collector import SafeMultiProcessCollector
from app_instrumentation.compaction import compact_dead_worker
from sanic_testkit.worker_farm import http_metrics, http_operations

BENCH_DIR = Path(__file__).resolve().parent
SCRAPE_REPEATS = (3, 50)  # at least, at most; within the time budget
HOT_PATH_ROUTES = 20
HOT_PATH_ROUNDS = 3
P99_LIVE_WORKERS, P99_ROUTES = 4, 20


def scrape_seconds(collector_class, path):
    started = time.perf_counter()
    registry = CollectorRegistry()
    collector_class(registry, path=str(path))
    generate_latest(registry)
    return time.perf_counter() - started


def median_scrape_ms(paths, budget_seconds):
    """{name: {collector: median ms}}; collectors and directories alternate in every round."""
    collectors = (MultiProcessCollector, SafeMultiProcessCollector)
    timings = {name: {cls: [] for cls in collectors} for name in paths}
    started = time.perf_counter()
    least, most = SCRAPE_REPEATS
    for repeat in range(most):
        if repeat >= least and time.perf_counter() - started > budget_seconds:
            break
        for name, path in paths.items():
            for cls in collectors:
                timings[name][cls].append(scrape_seconds(cls, path))
    return {
        name: {cls: statistics.median(samples) * 1e3 for cls, samples in by_collector.items()}
        for name, by_collector in timings.items()
    }


def write_workers(farm, path, workers, routes):
    return farm.run_workers(path, http_metrics(), http_operations(routes), count=workers)


def compacted_copy(source, destination, dead_pids):
    """Copy of `source` with `dead_pids` compacted; returns ms per compacted worker."""
    shutil.copytree(source, destination)
    started = time.perf_counter()
    for pid in dead_pids:
        compact_dead_worker(str(destination), pid)
    return (time.perf_counter() - started) / max(len(dead_pids), 1) * 1e3


def measure_scrapes(farm, workdir, sizes):
    """Scrape medians for the live grid and along growing dead-worker counts."""
    budget = sizes["scrape_budget_seconds"]
    results = {"grid": {}, "grid_dirs": {}, "dead": {}}
    for live, routes in sizes["live_grid"]:
        path = workdir / f"live_{live}x{routes}"
        path.mkdir()
        write_workers(farm, path, live, routes)
        results["grid"][(live, routes)] = median_scrape_ms({"": path}, budget)[""]
        results["grid_dirs"][(live, routes)] = path
    no_dead = workdir / f"live_{P99_LIVE_WORKERS}x{P99_ROUTES}"
    uncompacted = workdir / "with_dead"
    shutil.copytree(no_dead, uncompacted)
    dead_pids = []
    for dead in sizes["dead_steps"]:
        dead_pids += write_workers(farm, uncompacted, dead - len(dead_pids), P99_ROUTES)
        compacted = workdir / f"compacted_{dead}"
        compaction_ms = compacted_copy(uncompacted, compacted, dead_pids)
        paths = {"none": no_dead, "uncompacted": uncompacted, "compacted": compacted}
        results["dead"][dead] = median_scrape_ms(paths, budget)
        results["dead"][dead]["compaction_ms_per_worker"] = compaction_ms
    results["p99_dirs"] = {"uncompacted": uncompacted, "compacted": compacted}
    results["p99_dead"] = sizes["dead_steps"][-1]
    return results


def measure_hot_path(requests):
    """{variant: {"us_per_request", "tmpfs_bytes"}}; one worker process per variant and round,
    variants alternating so that load from elsewhere on the machine hits them alike."""
    runs = {variant: [] for variant in ("recipe", "cached_children", "project")}
    for _ in range(HOT_PATH_ROUNDS):
        for variant, results in runs.items():
            with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="bench_hot_path_") as path:
                completed = subprocess.run(
                    [
                        sys.executable,
                        BENCH_DIR / "hot_path.py",
                        variant,
                        str(HOT_PATH_ROUTES),
                        str(requests),
                    ],
                    env=dict(os.environ, PROMETHEUS_MULTIPROC_DIR=path),
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=300,
                )
            results.append(json.loads(completed.stdout))
    return {
        variant: {
            "us_per_request": statistics.median(r["us_per_request"] for r in results),
            "tmpfs_bytes": max(r["tmpfs_bytes"] for r in results),
        }
        for variant, results in runs.items()
    }
