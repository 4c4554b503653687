"""Benchmark of multiprocess metrics: scrape, compaction, hot path, footprint, hello p99 and req/s.

    .venv/bin/python app_instrumentation/bench/run.py [--quick] [--charts DIR]

Prints one table; every row is measured in this run, stock and this project on the same
directories. Directories are written by real prometheus_client writers (sanic_testkit.worker_farm):
each worker serves every route once, with the seed recipe's counter + histogram per route.
End to end, a bare hello app and the same app under the zero-change wrapper take turns serving wrk;
the memory of whole services and their /metrics latency compare one merger per service with one
per worker (the design before it); trace exemplars are measured beside today's code, the package
at the commit before them (measure_exemplars.py).
`--quick` uses smaller sizes (CI smoke test, < 60 s); every row is still printed.
measure_directories.py and measure_servers.py measure, report.py prints; this file picks the sizes.
"""

import argparse
import tempfile
import time
from pathlib import Path

from measure_directories import measure_hot_path, measure_scrapes
from measure_exemplars import exemplar_rows, measure_exemplars
from measure_servers import (
    measure_memory,
    measure_p99,
    measure_scrape_latency,
    measure_throughput,
)
from report import (
    machine_header,
    merger_rows,
    method_header,
    print_table,
    table_rows,
    write_charts,
)
from sanic_testkit.worker_farm import WorkerFarm

# The directory /metrics latency is measured over: live workers x routes.
LATENCY_GRID = (16, 50)
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
        "memory_workers": [2, 8],
        "latency_workers": 4,
        "latency_scrapes": 40,
        "exemplar_requests": 100_000,
        "exemplar_merges": 20,
        "exemplar_rounds": 5,
    },
    # A smoke test: every row measured once, small; make test runs it beside other work, where
    # its figures mean little. Goals are judged on a full run.
    "quick": {
        "live_grid": [(4, 20), (16, 20), (16, 50)],
        "dead_steps": [50, 100, 200],
        "dead_row": 100,
        "scrape_budget_seconds": 0.2,
        "hot_path_requests": 10_000,
        "wrk_seconds": 1,
        "p99_rounds": 1,
        "throughput_seconds": 1,
        "throughput_rounds": 1,
        "memory_workers": [2],
        "latency_workers": 2,
        "latency_scrapes": 10,
        "exemplar_requests": 2_000,
        "exemplar_merges": 3,
        "exemplar_rounds": 1,
    },
}


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
        scrapes = measure_scrapes(farm, Path(workdir), sizes)
        hot_path = measure_hot_path(sizes["hot_path_requests"])
        p99 = measure_p99(
            scrapes["p99_dirs"], scrapes["p99_dead"], sizes["wrk_seconds"], sizes["p99_rounds"]
        )
        throughput = measure_throughput(sizes["throughput_seconds"], sizes["throughput_rounds"])
        memory = measure_memory(sizes["memory_workers"])
        latency = measure_scrape_latency(
            scrapes["grid_dirs"][LATENCY_GRID], sizes["latency_workers"], sizes["latency_scrapes"]
        )
    exemplars = measure_exemplars(
        sizes["exemplar_requests"], sizes["exemplar_merges"], sizes["exemplar_rounds"]
    )
    header += method_header(sizes, scrapes["p99_dead"])
    rows = table_rows(scrapes, hot_path, p99, throughput, sizes)
    rows += merger_rows(memory, latency, sizes, LATENCY_GRID)
    rows += exemplar_rows(exemplars)
    print_table(header, rows)
    print(f"# measured in {time.monotonic() - started:.0f} s")
    if args.charts:
        write_charts(args.charts, scrapes, hot_path)
        print(f"# charts written to {args.charts}")


if __name__ == "__main__":
    main()
