"""Benchmark of multiprocess metrics: scrape, compaction, hot path, footprint, hello p99 and req/s.

    .venv/bin/python app_instrumentation/bench/run.py [--quick] [--charts DIR]

Prints one table; every row is measured in this run, stock and this project on the same
directories. Directories are written by real prometheus_client writers (sanic_testkit.worker_farm):
each worker serves every route once, with the seed recipe's counter + histogram per route.
End to end, a bare hello app and the same app under the zero-change wrapper take turns serving wrk.
`--quick` uses smaller sizes (CI smoke test, < 60 s); every row is still printed.
"""

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from app_instrumentation.collector import FILES_METRIC, SafeMultiProcessCollector
from app_instrumentation.compaction import compact_dead_worker
from app_instrumentation.factory import INSTRUMENTED_APP_ENV_VAR
from hello_app import HANDLER_ENV_VAR, HOOK_FLOOR_ANSWER
from sanic_testkit.worker_farm import WorkerFarm, http_metrics, http_operations

BENCH_DIR = Path(__file__).resolve().parent
SIZES = {
    "full": {
        "live_grid": [(4, 20), (16, 20), (16, 50)],
        "dead_steps": [250, 500, 1000, 2000],
        "dead_row": 1000,
        "scrape_budget_seconds": 1.5,
        "hot_path_requests": 100_000,
        "wrk_seconds": 10,
        "p99_rounds": 3,
        "throughput_seconds": 5,
        "throughput_rounds": 5,
    },
    "quick": {
        "live_grid": [(4, 20), (16, 20), (16, 50)],
        "dead_steps": [50, 100, 200],
        "dead_row": 100,
        "scrape_budget_seconds": 0.2,
        "hot_path_requests": 10_000,
        "wrk_seconds": 2,
        "p99_rounds": 1,
        "throughput_seconds": 1,
        "throughput_rounds": 3,
    },
}
SCRAPE_REPEATS = (3, 50)  # at least, at most; within the time budget
HOT_PATH_ROUTES = 20
HOT_PATH_ROUNDS = 3
P99_LIVE_WORKERS, P99_ROUTES = 4, 20
WRK_TIMEOUT_SECONDS = 60
THROUGHPUT_WORKERS, THROUGHPUT_CONNECTIONS = 2, 32
# In the order each round runs them; hook_floor: see hello_app.py.
THROUGHPUT_APPS = ("bare", "instrumented", "hook_floor", "hook_floor_metrics")
HELLO_APP = "hello_app:create_app"
HISTOGRAM_COUNT = b"http_server_request_duration_seconds_count{"
WORKER_READY_LOG = "Worker ready ["  # Sanic's line, once per worker that listens
SERVER_WORKER_ENVIRON = b"SANIC_WORKER_NAME=Sanic-Server-"  # set by Sanic in each server worker


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
    results = {"grid": {}, "dead": {}}
    for live, routes in sizes["live_grid"]:
        path = workdir / f"live_{live}x{routes}"
        path.mkdir()
        write_workers(farm, path, live, routes)
        results["grid"][(live, routes)] = median_scrape_ms({"": path}, budget)[""]
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


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port, path, timeout=60):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@contextlib.contextmanager
def sanic_server(target, workers, env, log_path):
    """`sanic TARGET --factory` on a free 127.0.0.1 port with hello_app importable; yields
    (port, main process pid). Every server of the benchmark starts through here, so they differ
    only in target and env."""
    port = free_port()
    env = dict(env, PYTHONPATH=str(BENCH_DIR))
    command = [str(Path(sys.executable).parent / "sanic"), target, "--factory"]
    command += ["--workers", str(workers), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-motd", "--no-access-logs"]
    with open(log_path, "wb") as log:
        # Own session, so that the process group holds exactly this server's processes.
        server = subprocess.Popen(
            command, env=env, stdout=log, stderr=log, cwd=BENCH_DIR, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            # One worker answers before the others listen; wrk's connections would all stay on it.
            all_ready = Path(log_path).read_text().count(WORKER_READY_LOG) >= workers
            try:
                if all_ready and get(port, "/", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"Sanic did not start; see {log_path}")
            time.sleep(0.1)
        yield port, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        finally:
            # Workers outliving their main process (or a main ignoring SIGTERM) share its group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def sanic_worker(handler, metrics_dir, log_path):
    """One Sanic worker on 127.0.0.1 serving hello_app with the given /metrics handler."""
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), **{HANDLER_ENV_VAR: handler})
    return sanic_server(HELLO_APP, 1, env, log_path)


def server_workers_cpu_seconds(main_pid):
    """User + system CPU seconds used so far by the server workers of the Sanic main process
    `main_pid` (not the main process, nor the merge helpers the workers start)."""
    total_ticks = 0
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            # Fields after the parenthesised command: state, ppid, ... utime (12th), stime (13th).
            fields = stat_path.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != main_pid:
                continue
            if SERVER_WORKER_ENVIRON not in (stat_path.parent / "environ").read_bytes():
                continue
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while we looked
        total_ticks += int(fields[11]) + int(fields[12])
    return total_ticks / os.sysconf("SC_CLK_TCK")


def parse_wrk_requests(output):
    """The number of requests wrk completed."""
    return int(re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE).group(1))


def parse_wrk(output):
    """(p99 ms, requests per second) from `wrk --latency` output."""
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE).groups()
    rate = float(re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE).group(1))
    return float(value) * units[unit], rate


def hello_under_scrape(handler, metrics_dir, seconds, log_path, scrape=True):
    """wrk on / while a client scrapes /metrics back to back; p99, req/s, scrapes, scrape ms."""
    with sanic_worker(handler, metrics_dir, log_path) as (port, _):
        stop = threading.Event()
        scrape_ms = []
        files_gauge = []

        def scrape_until_stopped():
            deadline = time.monotonic() + seconds + 30
            while not stop.is_set() and time.monotonic() < deadline:
                started = time.perf_counter()
                status, body = get(port, "/metrics")
                scrape_ms.append((time.perf_counter() - started) * 1e3)
                files_gauge.append(FILES_METRIC.encode() in body and status == 200)

        scraper = threading.Thread(target=scrape_until_stopped)
        if scrape:
            scraper.start()
        try:
            wrk_output = run_wrk(port, seconds, connections=4)
        finally:
            stop.set()
            if scrape:
                scraper.join()
    p99_ms, rate = parse_wrk(wrk_output)
    return {
        "p99_ms": p99_ms,
        "requests_per_second": rate,
        "scrapes": len(scrape_ms),
        "scrape_ms": statistics.median(scrape_ms) if scrape_ms else 0.0,
        "safe_collector": bool(files_gauge) and all(files_gauge),
    }


def run_wrk(port, seconds, connections):
    """wrk's output for GET / on one thread; a long timeout so that requests stuck behind a
    blocked event loop count in the latency figures instead of being dropped."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += [f"--timeout={WRK_TIMEOUT_SECONDS}s", f"http://127.0.0.1:{port}/"]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + WRK_TIMEOUT_SECONDS + 30,
    ).stdout


def measure_p99(dirs, dead, seconds, rounds, workdir):
    """{row: {"handler", "runs": [hello_under_scrape result, ...]}}; the project's rows, which
    carry the goal, are measured `rounds` times, alternating, to show the spread."""
    runs = {
        "no scrape": ("stock_inline", "uncompacted", False),
        f"stock in event loop, {dead} dead": ("stock_inline", "uncompacted", True),
        f"safe collector in a thread, {dead} dead": ("safe_thread", "uncompacted", True),
        f"safe collector in a thread, {dead} dead compacted": ("safe_thread", "compacted", True),
        f"project endpoint, {dead} dead": ("project", "uncompacted", True),
        f"project endpoint, {dead} dead compacted": ("project", "compacted", True),
    }
    results = {name: {"handler": handler, "runs": []} for name, (handler, _, _) in runs.items()}
    index = 0
    for round_index in range(rounds):
        for name, (handler, state, scrape) in runs.items():
            if round_index and handler != "project":
                continue
            # A fresh copy each run: the server's own worker and main process write into it.
            run_dir = workdir / f"p99_{index}"
            shutil.copytree(dirs[state], run_dir)
            log = workdir / f"sanic_{index}.log"
            results[name]["runs"].append(hello_under_scrape(handler, run_dir, seconds, log, scrape))
            shutil.rmtree(run_dir)
            index += 1
    return results


def hello_throughput(target, env, seconds, log_path, metrics_marker):
    """wrk on / of a fresh server: {"requests_per_second", "worker_cpu_us"}, the latter the server
    workers' CPU time per request (what the instrumentation adds shows there without the share of
    the CPUs wrk takes). Checks that /metrics answers 200 with metrics_marker in its body, or 404
    if that is None."""
    with sanic_server(target, THROUGHPUT_WORKERS, env, log_path) as (port, main_pid):
        cpu_before = server_workers_cpu_seconds(main_pid)
        wrk_output = run_wrk(port, seconds, connections=THROUGHPUT_CONNECTIONS)
        cpu_seconds = server_workers_cpu_seconds(main_pid) - cpu_before
        status, body = get(port, "/metrics")
    # Errors answered fast would inflate the rate of a broken server.
    if "Non-2xx" in wrk_output:
        raise RuntimeError(f"{target} answered errors under load:\n{wrk_output}")
    if not ((status == 200 and metrics_marker in body) if metrics_marker else status == 404):
        raise RuntimeError(f"{target}: /metrics answered {status} {body[:200]!r}")
    return {
        "requests_per_second": parse_wrk(wrk_output)[1],
        "worker_cpu_us": cpu_seconds / parse_wrk_requests(wrk_output) * 1e6,
    }


def measure_throughput(seconds, rounds, workdir):
    """{name: [hello_throughput() per round]} for each of THROUGHPUT_APPS: hello_app with no
    metrics, the same app through the zero-change wrapper, and with the two hook floors of
    hello_app.py, alternating so that load from elsewhere hits them alike."""
    bare_env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PROMETHEUS_MULTIPROC_DIR", INSTRUMENTED_APP_ENV_VAR)
    }
    bare_env[HANDLER_ENV_VAR] = "bare"
    runs = {name: [] for name in THROUGHPUT_APPS}
    for round_index in range(rounds):
        for name in THROUGHPUT_APPS:
            log = workdir / f"sanic_throughput_{name}_{round_index}.log"
            with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="bench_throughput_") as path:
                target, env, marker = HELLO_APP, bare_env, None
                if name == "instrumented":
                    target = "app_instrumentation.factory:create_app"
                    env = dict(
                        env, PROMETHEUS_MULTIPROC_DIR=path, **{INSTRUMENTED_APP_ENV_VAR: HELLO_APP}
                    )
                    marker = HISTOGRAM_COUNT
                elif name.startswith("hook_floor"):
                    env = dict(env, PROMETHEUS_MULTIPROC_DIR=path, **{HANDLER_ENV_VAR: name})
                    marker = HOOK_FLOOR_ANSWER.encode()
                runs[name].append(hello_throughput(target, env, seconds, log, marker))
    return runs


def machine_header(mode):
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("prometheus-client", "sanic", "app-instrumentation")
    )
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return [
        f"mode: {mode}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"machine: {os.cpu_count()} CPUs ({cpu}), {platform.platform()},"
        f" load average {' '.join(f'{load:.1f}' for load in os.getloadavg())} at start",
        f"python {platform.python_version()}; {versions}; {wrk.strip()}",
    ]


def verdict(met):
    return "met" if met else "NOT met"


def table_rows(scrapes, hot_path, p99, throughput, sizes):
    stock, safe = MultiProcessCollector, SafeMultiProcessCollector
    rows = []
    for (live, routes), ms in scrapes["grid"].items():
        ratio = ms[safe] / ms[stock]
        goal = f"<= 0.5x: {verdict(ratio <= 0.5)}" if (live, routes) == (16, 50) else ""
        rows.append((f"scrape ms, {live}x{routes}x0", ms[stock], ms[safe], f"{ratio:.2f}x", goal))
    dead = sizes["dead_row"]
    at_dead = scrapes["dead"][dead]
    at_zero = at_dead["none"]
    for state in ("uncompacted", "compacted"):
        ms = at_dead[state]
        rows.append(
            (
                f"scrape ms, 4x20x{dead} {state}",
                ms[stock],
                ms[safe],
                f"{ms[safe] / ms[stock]:.2f}x",
                "",
            )
        )
    growth = at_dead["compacted"][safe] / at_zero[safe]
    rows.append(
        (
            f"scrape 4x20x{dead} (stock: uncompacted) / 4x20x0",
            at_dead["uncompacted"][stock] / at_zero[stock],
            growth,
            "",
            f"<= 1.5x: {verdict(growth <= 1.5)}",
        )
    )
    rows.append(
        ("compaction ms per dead worker", None, at_dead["compaction_ms_per_worker"], "", "")
    )
    recipe, cached, project = (hot_path[v] for v in ("recipe", "cached_children", "project"))
    rows.append(
        (
            "us per request (recipe | project)",
            recipe["us_per_request"],
            project["us_per_request"],
            f"{project['us_per_request'] / recipe['us_per_request']:.2f}x",
            f"<= recipe: {verdict(project['us_per_request'] <= recipe['us_per_request'])}",
        )
    )
    rows.append(("us per request, cached children", cached["us_per_request"], None, "", ""))
    rows.append(
        (
            f"tmpfs KiB per live worker, {HOT_PATH_ROUTES} routes",
            recipe["tmpfs_bytes"] / 1024,
            project["tmpfs_bytes"] / 1024,
            "",
            "",
        )
    )
    for name, measured in p99.items():
        project_run = measured["handler"] != "stock_inline"
        runs = measured["runs"]
        p99_ms = statistics.median(run["p99_ms"] for run in runs)
        note = f"{statistics.median(run['requests_per_second'] for run in runs):.0f} req/s"
        scrapes = statistics.median(run["scrapes"] for run in runs)
        if scrapes:
            scrape_ms = statistics.median(run["scrape_ms"] for run in runs)
            note += f", {scrapes:.0f} scrapes of {scrape_ms:.0f} ms"
        if measured["handler"] == "project":
            if not all(run["safe_collector"] for run in runs):
                note += ", endpoint uses the stock collector"
            if len(runs) > 1:
                spread = "/".join(f"{run['p99_ms']:.1f}" for run in runs)
                note += f"; median of {spread}"
            note += f"; < 20 ms: {verdict(p99_ms < 20)}"
        rows.append(
            (
                f"hello p99 ms, {name}",
                None if project_run else p99_ms,
                p99_ms if project_run else None,
                "",
                note,
            )
        )

    def medians(key):
        return [statistics.median(run[key] for run in throughput[name]) for name in THROUGHPUT_APPS]

    def per_round(key, digits):
        return " ".join(
            f"{name} {'/'.join(f'{run[key]:.{digits}f}' for run in throughput[name])}"
            for name in THROUGHPUT_APPS
        )

    bare, instrumented, *_ = medians("requests_per_second")
    ratio = instrumented / bare
    rows.append(
        (
            f"hello req/s, {THROUGHPUT_WORKERS} workers (bare | instrumented)",
            bare,
            instrumented,
            f"{ratio:.2f}x",
            f">= 0.95x: {verdict(ratio >= 0.95)}; rounds: {per_round('requests_per_second', 0)}",
        )
    )
    # The same runs seen from the workers: the CPU a request costs them, which wrk's share of
    # the CPUs does not dilute; what 0.95x would leave the instrumentation, what the cheapest
    # per-request hooks take of that before any metric is written, and with the same writes.
    bare_us, instrumented_us, floor_us, floor_metrics_us = medians("worker_cpu_us")
    allowed_us = bare_us / 0.95 - bare_us
    rounds = f"; rounds: {per_round('worker_cpu_us', 1)}"
    for name, us, note_end in (
        ("instrumented", instrumented_us, ""),
        ("hook floor, no metric", floor_us, ""),
        ("hook floor + the same writes", floor_metrics_us, rounds),
    ):
        rows.append(
            (
                f"worker CPU us per hello request (bare | {name})",
                bare_us,
                us,
                f"{us / bare_us:.2f}x",
                f"adds {us - bare_us:.1f} us; 0.95x allows {allowed_us:.1f} us{note_end}",
            )
        )
    return rows


def print_table(header, rows):
    columns = ("measurement", "stock/recipe", "this project", "ratio", "goal / note")
    cells = [
        (name, "-" if a is None else f"{a:.2f}", "-" if b is None else f"{b:.2f}", ratio, note)
        for name, a, b, ratio, note in rows
    ]
    widths = [max(len(row[i]) for row in [columns, *cells]) for i in range(4)]
    for line in header:
        print(f"# {line}")
    for row in [columns, *cells]:
        print(
            "  ".join(
                [
                    row[0].ljust(widths[0]),
                    *(cell.rjust(width) for cell, width in zip(row[1:4], widths[1:], strict=True)),
                    row[4],
                ]
            ).rstrip()
        )


def write_charts(directory, scrapes, hot_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    directory.mkdir(parents=True, exist_ok=True)
    dead_counts = sorted(scrapes["dead"])
    series = {
        "stock, uncompacted": ("uncompacted", MultiProcessCollector),
        "this project, uncompacted": ("uncompacted", SafeMultiProcessCollector),
        "this project, compacted": ("compacted", SafeMultiProcessCollector),
    }
    figure, axes = pyplot.subplots(figsize=(7, 4))
    for label, (state, collector_class) in series.items():
        at_zero = statistics.median(
            scrapes["dead"][d]["none"][collector_class] for d in dead_counts
        )
        axes.plot(
            [0, *dead_counts],
            [at_zero] + [scrapes["dead"][d][state][collector_class] for d in dead_counts],
            marker="o",
            label=label,
        )
    axes.set(
        xlabel="dead workers (4 live, 20 routes)",
        ylabel="scrape latency, median ms",
        title="Scrape latency vs dead workers",
    )
    axes.legend()
    figure.tight_layout()
    figure.savefig(directory / "scrape_latency_vs_dead_workers.png", dpi=120)
    pyplot.close(figure)

    variants = {"recipe": "recipe (.labels())", "cached_children": "cached children"}
    variants["project"] = "this project"
    figure, axes = pyplot.subplots(figsize=(6, 4))
    axes.bar(list(variants.values()), [hot_path[name]["us_per_request"] for name in variants])
    axes.set(ylabel="us per request", title="Instrumentation cost per request, multiprocess mode")
    figure.tight_layout()
    figure.savefig(directory / "per_request_cost.png", dpi=120)
    pyplot.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, < 60 s (CI smoke)")
    parser.add_argument("--charts", type=Path, help="write PNG charts into this directory")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    sizes = SIZES[mode]
    started = time.monotonic()
    header = machine_header(mode)
    with (
        tempfile.TemporaryDirectory(dir="/dev/shm", prefix="bench_") as workdir,
        WorkerFarm() as farm,
    ):
        workdir = Path(workdir)
        scrapes = measure_scrapes(farm, workdir, sizes)
        hot_path = measure_hot_path(sizes["hot_path_requests"])
        p99 = measure_p99(
            scrapes["p99_dirs"],
            scrapes["p99_dead"],
            sizes["wrk_seconds"],
            sizes["p99_rounds"],
            workdir,
        )
        throughput = measure_throughput(
            sizes["throughput_seconds"], sizes["throughput_rounds"], workdir
        )
    header.append(
        f"scrape: median of generate_latest over a fresh registry; AxBxC = live workers x routes"
        f" x dead workers; hello p99: 1 Sanic worker, wrk -c4 -t1 -d{sizes['wrk_seconds']}s"
        f" --timeout={WRK_TIMEOUT_SECONDS}s,"
        f" /metrics scraped back to back over 4x20x{scrapes['p99_dead']};"
        f" project endpoint rows: median of {sizes['p99_rounds']} alternating runs"
    )
    header.append(
        f"hello req/s and worker CPU: median of {sizes['throughput_rounds']} rounds,"
        f" {', '.join(THROUGHPUT_APPS)} alternating, each a fresh sanic --workers"
        f" {THROUGHPUT_WORKERS} --no-access-logs, wrk -t1 -c{THROUGHPUT_CONNECTIONS}"
        f" -d{sizes['throughput_seconds']}s; instrumented = {HELLO_APP} under the zero-change"
        " wrapper; worker CPU = user + system time of the server workers during wrk / requests"
    )
    print_table(header, table_rows(scrapes, hot_path, p99, throughput, sizes))
    print(f"# measured in {time.monotonic() - started:.0f} s")
    if args.charts:
        write_charts(args.charts, scrapes, hot_path)
        print(f"# charts written to {args.charts}")


if __name__ == "__main__":
    main()
