"""Measurements of hello_app served by `sanic --workers N`: p99 under wrk while /metrics is
scraped, requests per second, the server workers' CPU time per request, the memory (PSS) of the
whole service once every worker has served scrapes, and /metrics latency with one merger per
service against one per worker.

Every server starts through sanic_testkit's SanicService, so they differ only in app and env.
"""

import contextlib
import os
import re
import statistics
import subprocess
import threading
import time
from pathlib import Path

from app_instrumentation.collector import FILES_METRIC
from app_instrumentation.factory import INSTRUMENTED_APP_ENV_VAR
from hello_app import HANDLER_ENV_VAR, HOOK_FLOOR_ANSWER
from sanic_testkit.service import INSTRUMENTED_FACTORY, SanicService, process_tree

BENCH_DIR = Path(__file__).resolve().parent
WRK_TIMEOUT_SECONDS = 60
SCRAPE_TIMEOUT_SECONDS = 60  # a stock scrape over thousands of dead workers takes seconds
# How many /metrics requests may look for a worker that served the load (hello_throughput).
METRICS_CHECK_ATTEMPTS = 8
THROUGHPUT_WORKERS, THROUGHPUT_CONNECTIONS = 2, 32
# In the order each round runs them; hook_floor: see hello_app.py.
THROUGHPUT_APPS = ("bare", "instrumented", "hook_floor", "hook_floor_metrics")
HELLO_APP = "hello_app:create_app"
HISTOGRAM_COUNT = b"http_server_request_duration_seconds_count{"
SERVER_WORKER_ENVIRON = b"SANIC_WORKER_NAME=Sanic-Server-"  # set by Sanic in each server worker
# p99 rows measured in every round: the endpoint as shipped, and as it was before issue 15.
ALTERNATED_HANDLERS = ("project", "per_worker_merger")
# Memory: no metrics, this project (one merger per service), the design before it (one per worker).
PSS_APPS = ("bare", "instrumented", "per_worker_merger")
MERGER_COMMAND = b"-m\0app_instrumentation.merger\0"
# Enough scrapes on fresh connections that every worker takes some (the kernel picks the worker).
SCRAPES_PER_WORKER = 25


def hello_server(factory, workers, handler, **options):
    """A SanicService with hello_app importable; options: SanicService's (seed_dir, env, ...)."""
    return SanicService(
        workers,
        factory=factory,
        sanic_options=("--no-motd", "--no-access-logs"),
        PYTHONPATH=str(BENCH_DIR),
        **{HANDLER_ENV_VAR: handler},
        **options,
    )


def server_workers_cpu_seconds(main_pid):
    """User + system CPU seconds used so far by the server workers of the Sanic main process
    `main_pid` (not the main process, nor the merger)."""
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


def hello_under_scrape(handler, seed_dir, seconds, scrape=True):
    """wrk on / of one Sanic worker serving `handler` over a copy of `seed_dir`, while a client
    scrapes /metrics back to back; p99, req/s, scrapes, scrape ms."""
    with hello_server(HELLO_APP, 1, handler, seed_dir=seed_dir) as server:
        stop = threading.Event()
        scrape_ms = []
        files_gauge = []

        def scrape_until_stopped():
            deadline = time.monotonic() + seconds + 30
            while not stop.is_set() and time.monotonic() < deadline:
                started = time.perf_counter()
                status, _, body = server.request("GET", "/metrics", timeout=SCRAPE_TIMEOUT_SECONDS)
                scrape_ms.append((time.perf_counter() - started) * 1e3)
                files_gauge.append(FILES_METRIC.encode() in body and status == 200)

        scraper = threading.Thread(target=scrape_until_stopped)
        if scrape:
            scraper.start()
        try:
            wrk_output = run_wrk(server.port, seconds, connections=4)
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


def measure_p99(dirs, dead, seconds, rounds):
    """{row: {"handler", "runs": [hello_under_scrape result, ...]}}; the project's rows, which
    carry the goal, and the design before it are measured `rounds` times, alternating, to show
    the spread and compare them under the same load."""
    runs = {
        "no scrape": ("stock_inline", "uncompacted", False),
        f"stock in event loop, {dead} dead": ("stock_inline", "uncompacted", True),
        f"safe collector in a thread, {dead} dead": ("safe_thread", "uncompacted", True),
        f"safe collector in a thread, {dead} dead compacted": ("safe_thread", "compacted", True),
        f"project endpoint, {dead} dead": ("project", "uncompacted", True),
        f"project endpoint, {dead} dead compacted": ("project", "compacted", True),
        f"per-worker merger (before issue 15), {dead} dead": (
            "per_worker_merger",
            "uncompacted",
            True,
        ),
    }
    results = {name: {"handler": handler, "runs": []} for name, (handler, _, _) in runs.items()}
    for round_index in range(rounds):
        for name, (handler, state, scrape) in runs.items():
            if round_index and handler not in ALTERNATED_HANDLERS:
                continue
            # A fresh copy each run: the server's own worker and main process write into it.
            results[name]["runs"].append(hello_under_scrape(handler, dirs[state], seconds, scrape))
    return results


def hello_throughput(server, metrics_marker, seconds):
    """wrk on / of a fresh `server`: {"requests_per_second", "worker_cpu_us"}, the latter the
    server workers' CPU time per request (what the instrumentation adds shows there without the
    share of the CPUs wrk takes). Checks that /metrics answers 200 with metrics_marker in its
    body, or 404 if that is None."""
    with server:
        main_pid = server.process.pid
        cpu_before = server_workers_cpu_seconds(main_pid)
        wrk_output = run_wrk(server.port, seconds, connections=THROUGHPUT_CONNECTIONS)
        cpu_seconds = server_workers_cpu_seconds(main_pid) - cpu_before
        # A hook floor's /metrics answers for the one worker it reaches, and in a short run wrk's
        # few connections may all have gone to the other worker: ask on new connections until
        # one worker says it timed requests.
        for _ in range(METRICS_CHECK_ATTEMPTS):
            status, _, body = server.request("GET", "/metrics", timeout=SCRAPE_TIMEOUT_SECONDS)
            if (status == 200 and metrics_marker in body) if metrics_marker else status == 404:
                break
        else:
            raise RuntimeError(f"{server.factory}: /metrics answered {status} {body[:200]!r}")
    # Errors answered fast would inflate the rate of a broken server.
    if "Non-2xx" in wrk_output:
        raise RuntimeError(f"{server.factory} answered errors under load:\n{wrk_output}")
    return {
        "requests_per_second": parse_wrk(wrk_output)[1],
        "worker_cpu_us": cpu_seconds / parse_wrk_requests(wrk_output) * 1e6,
    }


def throughput_server(name):
    """The server of THROUGHPUT_APPS' `name` and what its /metrics must hold (None: a 404)."""
    if name == "bare":
        return hello_server(HELLO_APP, THROUGHPUT_WORKERS, "bare", multiprocess=False), None
    if name == "instrumented":
        # hello_app's own handler stays bare: the zero-change wrapper adds the metrics.
        wrapped = {INSTRUMENTED_APP_ENV_VAR: HELLO_APP}
        server = hello_server(INSTRUMENTED_FACTORY, THROUGHPUT_WORKERS, "bare", **wrapped)
        return server, HISTOGRAM_COUNT
    return hello_server(HELLO_APP, THROUGHPUT_WORKERS, name), HOOK_FLOOR_ANSWER.encode()


def measure_throughput(seconds, rounds):
    """{name: [hello_throughput() per round]} for each of THROUGHPUT_APPS: hello_app with no
    metrics, the same app through the zero-change wrapper, and with the two hook floors of
    hello_app.py, alternating so that load from elsewhere hits them alike."""
    runs = {name: [] for name in THROUGHPUT_APPS}
    for _ in range(rounds):
        for name in THROUGHPUT_APPS:
            runs[name].append(hello_throughput(*throughput_server(name), seconds))
    return runs


def pss_kib(pid):
    """Proportional set size of process `pid`: shared pages divided among their sharers."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise ValueError(f"no Pss in /proc/{pid}/smaps_rollup")


def is_merger(pid):
    return MERGER_COMMAND in Path(f"/proc/{pid}/cmdline").read_bytes()


def service_memory(server):
    """{"pss_kib", "processes", "merger_pss_kib"} of the service's whole process tree."""
    total = processes = merger = 0
    for pid in process_tree(server.process.pid):
        try:
            pss = pss_kib(pid)
            merger += pss if is_merger(pid) else 0
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # exited while we looked (a zombie has no smaps)
        total += pss
        processes += 1
    return {"pss_kib": total, "processes": processes, "merger_pss_kib": merger}


def memory_server(name, workers):
    if name == "bare":
        return hello_server(HELLO_APP, workers, "bare", multiprocess=False)
    if name == "instrumented":
        wrapped = {INSTRUMENTED_APP_ENV_VAR: HELLO_APP}
        return hello_server(INSTRUMENTED_FACTORY, workers, "bare", **wrapped)
    return hello_server(HELLO_APP, workers, name)


def memory_after_scrapes(name, workers):
    """service_memory() of a fresh service of PSS_APPS' `name` after every worker served
    scrapes (and hello requests), counted for the per-worker design by its mergers."""
    with memory_server(name, workers) as server:
        for _ in range(3):
            for _ in range(SCRAPES_PER_WORKER * workers):
                server.request("GET", "/metrics", timeout=SCRAPE_TIMEOUT_SECONDS)
                server.request("GET", "/")
            mergers = sum(is_merger(pid) for pid in process_tree(server.process.pid))
            if name != "per_worker_merger" or mergers == workers:
                break
        time.sleep(0.5)  # let the last answers' buffers go
        memory = service_memory(server)
    memory["mergers"] = mergers
    return memory


def measure_memory(worker_counts):
    """{workers: {name: memory_after_scrapes()}} for PSS_APPS, in turn at each worker count."""
    return {
        workers: {name: memory_after_scrapes(name, workers) for name in PSS_APPS}
        for workers in worker_counts
    }


def measure_scrape_latency(seed_dir, workers, scrapes):
    """{handler: [ms per scrape]}: one merger per service ("project") against one per worker,
    both services running over copies of `seed_dir`, scraped in turn so that load from elsewhere
    on the machine hits them alike."""
    names = ("per_worker_merger", "project")
    latencies = {name: [] for name in names}
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(hello_server(HELLO_APP, workers, name, seed_dir=seed_dir))
            for name in names
        }
        for _ in range(scrapes):
            for name, server in servers.items():
                started = time.perf_counter()
                status, _, body = server.request("GET", "/metrics", timeout=SCRAPE_TIMEOUT_SECONDS)
                latencies[name].append((time.perf_counter() - started) * 1e3)
                if status != 200:
                    raise RuntimeError(f"{name}: /metrics answered {status} {body[:200]!r}")
    return latencies
