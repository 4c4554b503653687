"""Process metrics of every worker, and how many serve, written by the Sanic main process.

prometheus_client has no process collector in multiprocess mode, and a gauge written by each worker
would leave a file per pid. So the main process reads each worker's /proc/<pid>/stat and fd
directory, and its own, and writes them under a bounded `slot` label: Sanic's server number
("0".."N-1") or "main". The gauges use multiprocess_mode "mostrecent", like sanic_workers_live:
only the main process writes them, and the newest write wins. The slot's CPU seconds drop when
its worker is replaced, which rate() treats as a counter reset.

`sanic_workers_live` and `sanic_workers_configured` are written by the main process only, with
multiprocess_mode "mostrecent" too: the newest write wins, so a file left by an earlier main
process (if the directory was not wiped) cannot outvote the current one, whereas sum/max would add
or keep stale values. They are declared by the first `ProcessMetricsWriter`, which only the main
process's supervisor makes, so workers never write a file for them.
"""

import dataclasses
import functools
import os
import time

from prometheus_client import Gauge
from sanic.worker.process import WorkerProcess

from app_instrumentation.sanic_internals import is_acknowledged

MAIN_SLOT = "main"
# How often process metrics are written (and resident memory checked): far below any scrape
# interval, and reading /proc for a few processes once a second costs well under a millisecond.
PROCESS_METRICS_INTERVAL = 1.0
_CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
# Indexes into /proc/<pid>/stat's fields after the command name (proc(5) numbers minus 3).
_UTIME, _STIME, _STARTTIME, _RSS = 11, 12, 19, 21


@dataclasses.dataclass(frozen=True)
class ProcessSample:
    resident_bytes: int
    cpu_seconds: float
    open_fds: int
    start_time_seconds: float


@functools.cache
def boot_time_seconds() -> float:
    """Unix time of the boot that /proc/<pid>/stat's start times count from (CLOCK_BOOTTIME).

    From the clocks, not /proc/stat's btime: the hardened unit's ProcSubset=pid hides /proc/stat.
    """
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def read_process(pid: int) -> ProcessSample | None:
    """The process's figures now, or None if it has exited (or is a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name may hold spaces and parentheses: split after its last ')'.
            fields = stat.read().rpartition(")")[2].split()
        open_fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    if fields[0] == "Z":
        return None
    return ProcessSample(
        resident_bytes=int(fields[_RSS]) * _PAGE_BYTES,
        cpu_seconds=(int(fields[_UTIME]) + int(fields[_STIME])) / _CLOCK_TICKS_PER_SECOND,
        open_fds=open_fds,
        start_time_seconds=boot_time_seconds() + int(fields[_STARTTIME]) / _CLOCK_TICKS_PER_SECOND,
    )


class ProcessGauges:
    """The four per-slot gauges; declared once per process (see process_gauges)."""

    def __init__(self) -> None:
        def gauge(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, ("slot",), multiprocess_mode="mostrecent")

        self.resident_memory = gauge(
            "sanic_worker_resident_memory_bytes", "Resident memory of the process in the slot."
        )
        self.cpu_seconds = gauge(
            "sanic_worker_cpu_seconds",
            "CPU seconds of the process in the slot; drops when its worker is replaced.",
        )
        self.open_fds = gauge(
            "sanic_worker_open_fds", "Open file descriptors of the slot's process."
        )
        self.start_time = gauge(
            "sanic_worker_start_time_seconds", "Start time of the slot's process, unix seconds."
        )

    def write(self, slot: str, sample: ProcessSample) -> None:
        self.resident_memory.labels(slot).set(sample.resident_bytes)
        self.cpu_seconds.labels(slot).set(sample.cpu_seconds)
        self.open_fds.labels(slot).set(sample.open_fds)
        self.start_time.labels(slot).set(sample.start_time_seconds)


@functools.cache
def process_gauges() -> ProcessGauges:
    """Declared by the main process's supervisor only: a registry refuses a name twice."""
    return ProcessGauges()


@functools.cache
def _worker_gauges() -> tuple[Gauge, Gauge]:
    """(live, configured) workers, declared once: a registry refuses a second metric of a name."""
    live = Gauge(
        "sanic_workers_live",
        "Sanic server workers that are running and acknowledged, as seen by the main process.",
        multiprocess_mode="mostrecent",
    )
    configured = Gauge(
        "sanic_workers_configured",
        "Sanic server workers the main process is configured to run.",
        multiprocess_mode="mostrecent",
    )
    return live, configured


class ProcessMetricsWriter:
    """Writes the workers' counts when they change, and every PROCESS_METRICS_INTERVAL the
    figures of the main process and of each serving worker (by slot)."""

    def __init__(self) -> None:
        self._workers_live, self._workers_configured = _worker_gauges()
        self._published_counts: tuple[int, int] | None = None
        self._next_figures = 0.0

    def write_counts(self, processes: list[WorkerProcess], configured: int) -> None:
        counts = (sum(is_acknowledged(process) for process in processes), configured)
        if counts != self._published_counts:
            self._workers_live.set(counts[0])
            self._workers_configured.set(counts[1])
            self._published_counts = counts

    def write_figures_when_due(
        self, slotted: list[tuple[str, WorkerProcess]]
    ) -> list[tuple[WorkerProcess, ProcessSample]]:
        """Write the figures if they are due; returns each serving worker's, to check limits."""
        now = time.monotonic()
        if now < self._next_figures:
            return []
        self._next_figures = now + PROCESS_METRICS_INTERVAL
        gauges = process_gauges()
        main = read_process(os.getpid())
        if main is not None:
            gauges.write(MAIN_SLOT, main)
        samples = []
        for slot, process in slotted:
            if not process.pid or not is_acknowledged(process):
                continue
            sample = read_process(process.pid)
            if sample is None:
                continue
            gauges.write(slot, sample)
            samples.append((process, sample))
        return samples
