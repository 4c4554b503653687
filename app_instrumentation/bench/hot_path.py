"""Per-request instrumentation cost and tmpfs footprint, in multiprocess mode.

Run by run.py as `python hot_path.py VARIANT ROUTES REQUESTS`, one process per variant, with
PROMETHEUS_MULTIPROC_DIR set to an empty directory (prometheus_client picks its value backend at
import, so this cannot run inside run.py). Prints one JSON object: microseconds per request (median
of several rounds) and the tmpfs bytes this worker's files take once every route has been served.
Variants: recipe (`.labels()` per request, counter + histogram), cached_children (the same metrics,
children looked up once), project (app_instrumentation.http_metrics' hot path).
"""

import json
import os
import statistics
import sys
from time import perf_counter

ROUNDS = 7


def _recipe_metrics():
    from prometheus_client import Counter, Histogram

    labels = ("method", "route", "status")
    return (
        Counter("recipe_requests", "Requests.", labels),
        Histogram("recipe_request_duration_seconds", "Latency.", labels),
    )


def recipe():
    requests, latency = _recipe_metrics()

    def record(method, route, status):
        started = perf_counter()
        requests.labels(method, route, str(status)).inc()
        latency.labels(method, route, str(status)).observe(perf_counter() - started)

    return record


def cached_children():
    requests, latency = _recipe_metrics()
    children = {}

    def record(method, route, status):
        started = perf_counter()
        key = (method, route, status)
        pair = children.get(key)
        if pair is None:
            label_values = (method, route, str(status))
            pair = children[key] = (requests.labels(*label_values), latency.labels(*label_values))
        pair[0].inc()
        pair[1].observe(perf_counter() - started)

    return record


def project():
    from app_instrumentation.http_metrics import process_http_metrics

    http_metrics = process_http_metrics()
    request_started, request_finished = http_metrics.request_started, http_metrics.request_finished

    def record(method, route, status):
        request_finished(method, route, status, request_started())

    return record


VARIANTS = {"recipe": recipe, "cached_children": cached_children, "project": project}


def _microseconds_per_request(variant, routes, requests):
    calls = [("GET", f"/route/{index % routes}", 200) for index in range(requests)]
    timings = []
    for _ in range(ROUNDS):
        started = perf_counter()
        for method, route, status in calls:
            variant(method, route, status)
        timings.append((perf_counter() - started) / requests * 1e6)
    return statistics.median(timings)


def _tmpfs_bytes(directory, pid):
    """Bytes tmpfs allocated for the files of `pid` (sparse files: blocks, not apparent size)."""
    return sum(
        os.stat(os.path.join(directory, name)).st_blocks * 512
        for name in os.listdir(directory)
        if name.endswith(f"_{pid}.db")
    )


def main():
    variant, routes, requests = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    record = VARIANTS[variant]()
    cost = _microseconds_per_request(record, routes, requests)
    footprint = _tmpfs_bytes(os.environ["PROMETHEUS_MULTIPROC_DIR"], os.getpid())
    print(json.dumps({"us_per_request": cost, "tmpfs_bytes": footprint}))


if __name__ == "__main__":
    main()
