"""Trace exemplars beside today's code, in one run: a worker's CPU per request without and with a
traceparent, and the merge of 16 workers x 50 routes, as text and as OpenMetrics.

Today's code is the package at sanic_testkit.baseline.BASELINE_COMMIT, extracted from git; each
measurement runs in a process of its own with PYTHONPATH set to that copy or to this checkout's
package, the two alternating round by round on the same directory. run.py calls
`measure_exemplars`; the processes run `python measure_exemplars.py COMMAND ...`.
"""

import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter, process_time

from sanic_testkit.baseline import extract_baseline

BENCH_DIR = Path(__file__).resolve().parent
CURRENT_SOURCE = BENCH_DIR.parent / "src"
WORKERS, ROUTES = 16, 50
# Three buckets per route get an exemplar: fast, typical, slow.
DURATIONS = (0.003, 0.03, 0.3)
HOT_ROUTES = 20
ROUNDS = 3
INNER_ROUNDS = 7
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
TRACEPARENTS = [f"00-{index + 1:032x}-{index + 1:016x}-01" for index in range(64)]


def _metrics():
    from app_instrumentation.http_metrics import process_http_metrics

    http_metrics = process_http_metrics()
    finished = http_metrics.request_finished
    # Today's request_finished takes no traceparent: it never reads the header.
    takes_traceparent = "traceparent" in inspect.signature(finished).parameters
    return http_metrics.request_started, finished, takes_traceparent


def hot(requests: int, traced: bool) -> float:
    """CPU microseconds per request of the hot path, the header lookup instrument() does
    included: CPU time, not wall time, so that other load on a shared machine counts less."""
    from sanic.compat import Header

    started, finished, takes_traceparent = _metrics()
    headers = [Header({"traceparent": value} if traced else {}) for value in TRACEPARENTS]
    calls = [
        (f"/route/{index % HOT_ROUTES}", headers[index % len(headers)]) for index in range(requests)
    ]
    timings = []
    for _ in range(INNER_ROUNDS):
        began = process_time()
        if takes_traceparent:
            for route, request_headers in calls:
                finished("GET", route, 200, started(), True, request_headers.get("traceparent"))
        else:
            for route, _ in calls:
                finished("GET", route, 200, started())
        timings.append((process_time() - began) / requests * 1e6)
    return statistics.median(timings)


def fill() -> None:
    """One worker's files: every route served once per duration, each request traced."""
    _, finished, _ = _metrics()
    for route in range(ROUTES):
        for index, seconds in enumerate(DURATIONS):
            traceparent = TRACEPARENTS[(route + index) % len(TRACEPARENTS)]
            finished("GET", f"/route/{route}", 200, perf_counter() - seconds, False, traceparent)


def merge(path: str, accept: str, repeats: int) -> float:
    """Median CPU milliseconds of one scrape's merge and encoding."""
    from app_instrumentation.render import render

    timings = []
    for _ in range(repeats):
        began = process_time()
        render(path, accept, "")
        timings.append((process_time() - began) * 1e3)
    return statistics.median(timings)


def _run(source: Path, multiprocess_dir: str, *arguments: str) -> float | None:
    completed = subprocess.run(
        [sys.executable, str(Path(__file__)), *arguments],
        env=dict(os.environ, PYTHONPATH=str(source), PROMETHEUS_MULTIPROC_DIR=multiprocess_dir),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(completed.stdout)


def measure_exemplars(requests: int, merge_repeats: int) -> dict:
    """{"hot": {(code, traced): us}, "merge": {(code, format): ms}}; code is today or current."""
    with tempfile.TemporaryDirectory(prefix="bench_exemplars_") as workdir:
        sources = {"today": extract_baseline(Path(workdir)), "current": CURRENT_SOURCE}
        hot_runs = {(code, traced): [] for code in sources for traced in (False, True)}
        for _ in range(ROUNDS):
            for (code, traced), results in hot_runs.items():
                with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="bench_hot_") as path:
                    arguments = ("hot", str(requests), str(int(traced)))
                    results.append(_run(sources[code], path, *arguments))
        merge_runs = {(code, kind): [] for code in sources for kind in ("text", "openmetrics")}
        with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="bench_merge_") as path:
            for _ in range(WORKERS):
                _run(sources["current"], path, "fill")
            for _ in range(ROUNDS):
                for (code, kind), results in merge_runs.items():
                    accept = OPENMETRICS if kind == "openmetrics" else ""
                    results.append(
                        _run(sources[code], path, "merge", path, accept, str(merge_repeats))
                    )
    return {
        "hot": {key: statistics.median(values) for key, values in hot_runs.items()},
        "merge": {key: statistics.median(values) for key, values in merge_runs.items()},
    }


def exemplar_rows(measured: dict) -> list[tuple]:
    """Rows of run.py's table: today's code, then with exemplars, and the issue's goals."""
    hot, merged = measured["hot"], measured["merge"]
    rows = []
    for traced, name, allowance in ((False, "no traceparent", 0.3), (True, "traceparent", 1.5)):
        today, current = hot[("today", traced)], hot[("current", traced)]
        met = current - today <= allowance
        rows.append(
            (
                f"us per request, {name} (today | exemplars)",
                today,
                current,
                f"{current - today:+.2f} us",
                f"<= +{allowance} us: {'met' if met else 'NOT met'}",
            )
        )
    for kind in ("text", "openmetrics"):
        today, current = merged[("today", kind)], merged[("current", kind)]
        ratio = current / today
        rows.append(
            (
                f"merge ms {WORKERS}x{ROUTES}, {kind} (today | exemplars)",
                today,
                current,
                f"{ratio:.2f}x",
                f"<= 1.2x: {'met' if ratio <= 1.2 else 'NOT met'}",
            )
        )
    return rows


def main() -> None:
    command, *arguments = sys.argv[1:]
    if command == "hot":
        result = hot(int(arguments[0]), bool(int(arguments[1])))
    elif command == "fill":
        result = fill()
    else:
        result = merge(arguments[0], arguments[1], int(arguments[2]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
