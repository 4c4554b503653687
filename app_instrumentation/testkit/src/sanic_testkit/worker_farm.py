"""Real prometheus_client writers in multiprocess mode, one forked process (own pid) per worker.

Run as `python -m sanic_testkit.worker_farm`, it is the farm: it imports prometheus_client once
with PROMETHEUS_MULTIPROC_DIR set (the value backend is chosen at import), then for every JSON
command on stdin forks `count` children that each declare the metrics, apply the same operations
and exit. It answers with their pids.
`WorkerFarm` is the client that benchmarks and tests use; children are real processes, so the files
they leave are exactly what a dead Sanic worker leaves.
"""

import json
import os
import subprocess
import sys
import tempfile

GAUGE_MODES = (
    "all",
    "liveall",
    "min",
    "livemin",
    "max",
    "livemax",
    "sum",
    "livesum",
    "mostrecent",
    "livemostrecent",
)
# One metric of every kind and gauge mode, each labelled by route.
EVERY_KIND = [
    {"kind": "counter", "name": "jobs", "labels": ["route"]},
    {"kind": "histogram", "name": "latency_seconds", "labels": ["route"], "buckets": [0.25, 1, 4]},
    {"kind": "summary", "name": "payload_bytes", "labels": ["route"]},
] + [
    {"kind": "gauge", "name": f"level_{mode}", "labels": ["route"], "mode": mode}
    for mode in GAUGE_MODES
]
_METHODS = {"counter": "inc", "histogram": "observe", "summary": "observe", "gauge": "set"}


def random_operations(rng, count, routes=("a", "b", "c")):
    """`count` random operations on EVERY_KIND; amounts are multiples of 1/4 so sums stay exact."""
    operations = []
    for _ in range(count):
        index = rng.randrange(len(EVERY_KIND))
        kind = EVERY_KIND[index]["kind"]
        low = -32 if kind == "gauge" else 0
        amount = rng.randint(low, 32) / 4
        operations.append([index, [rng.choice(routes)], _METHODS[kind], amount])
    return operations


def http_metrics():
    """The seed recipe's metrics: a request counter and a duration histogram per route."""
    labels = ["method", "route", "status"]
    return [
        {"kind": "counter", "name": "http_requests", "labels": labels},
        {"kind": "histogram", "name": "http_request_duration_seconds", "labels": labels},
    ]


def http_operations(routes, requests_per_route=1):
    """Each route served `requests_per_route` times (0.03 s each) with GET and status 200."""
    operations = []
    for route in range(routes):
        labels = ["GET", f"/route/{route}", "200"]
        operations += [[0, labels, "inc", requests_per_route]]
        operations += [[1, labels, "observe", 0.03]] * requests_per_route
    return operations


class WorkerFarm:
    """Client of a farm process; use as a context manager."""

    def __init__(self):
        # Only satisfies prometheus_client at import; children write where each command says.
        self._import_dir = tempfile.TemporaryDirectory(prefix="farm_import_", dir="/dev/shm")
        env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=self._import_dir.name)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "sanic_testkit.worker_farm"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )

    def run_workers(self, directory, metrics, operations, count=1):
        """Fork `count` workers writing into `directory`; return their pids once all have exited.

        metrics: [{"kind": counter|gauge|histogram|summary, "name", "labels": [..],
                   "mode": gauge multiprocess_mode, "buckets": [..]}]
        operations: [[metric index, [label values], method, amount]], method inc|dec|set|observe.
        """
        command = {"dir": str(directory), "metrics": metrics, "ops": operations, "count": count}
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()
        answer = json.loads(self._process.stdout.readline())
        if answer["failed"]:
            raise RuntimeError(f"worker(s) failed: {answer['failed']}")
        return answer["pids"]

    def close(self):
        self._process.stdin.close()
        self._process.wait(timeout=30)
        self._import_dir.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _declare(metric):
    import prometheus_client

    kind, name, labels = metric["kind"], metric["name"], metric.get("labels", [])
    if kind == "counter":
        return prometheus_client.Counter(name, name, labels, registry=None)
    if kind == "gauge":
        return prometheus_client.Gauge(
            name, name, labels, registry=None, multiprocess_mode=metric.get("mode", "all")
        )
    if kind == "histogram":
        buckets = metric.get("buckets", prometheus_client.Histogram.DEFAULT_BUCKETS)
        return prometheus_client.Histogram(name, name, labels, registry=None, buckets=buckets)
    return prometheus_client.Summary(name, name, labels, registry=None)


def _work(command):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = command["dir"]
    declared = [_declare(metric) for metric in command["metrics"]]
    for index, label_values, method, amount in command["ops"]:
        metric = declared[index]
        child = metric.labels(*label_values) if label_values else metric
        getattr(child, method)(amount)


def _serve():
    import prometheus_client  # noqa: F401  (chooses the mmap value backend before any fork)

    parallel = os.cpu_count() or 1
    for line in sys.stdin:
        command = json.loads(line)
        pids, failed, running = [], [], set()
        for _ in range(command["count"]):
            if len(running) >= parallel:
                pid, status = os.wait()
                running.discard(pid)
                if status:
                    failed.append(pid)
            pid = os.fork()
            if pid == 0:
                exit_code = 1
                try:
                    _work(command)
                    exit_code = 0
                finally:
                    os._exit(exit_code)
            pids.append(pid)
            running.add(pid)
        for pid in running:
            if os.waitpid(pid, 0)[1]:
                failed.append(pid)
        sys.stdout.write(json.dumps({"pids": pids, "failed": failed}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()
