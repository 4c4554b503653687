"""Worker lifecycle in the Sanic main process: compact every departed worker, replace crashed ones,
recycle workers, and write per-worker process metrics.

Sanic 25.x marks a crashed worker FAILED and keeps serving with one worker fewer; it has no
child_exit hook. `WorkerSupervisor` is a thread in the main process that watches the states the
manager's own monitor loop records. For each worker that died it calls `compact_dead_worker` (which
must finish before a replacement exists, since a new process may reuse the pid) and then asks the
manager to restart that one worker through the manager's monitor pipe, so the restart itself runs
in the manager's thread like any restart Sanic does on request; this thread never mutates the
manager. A worker that keeps dying is not restarted forever: past `max_restarts` within
`restart_window` seconds the service shuts down and exits non-zero so systemd can act. Only
crashes count towards that budget: recycles and restarts done on request are not a crash loop.

Workers also leave without dying on their own: recycled by this supervisor, restarted through the
Inspector, `app.m.restart` or auto-reload, or scaled down. Each shows up as a slot whose pid
changed (or a slot that went away); the old pid is compacted once it has exited, which
`os.waitid(..., WNOWAIT)` sees without reaping it, so that its pid cannot be reused before the
compaction (with STARTUP_FIRST the old worker still finishes its in-flight requests first).
Every departure counts in `sanic_worker_restarts_total{reason}`: crash, recycled (by this
supervisor, see recycling.py) or manual (any restart Sanic did on request).

`sanic_workers_live` and `sanic_workers_configured` are written by this process only, with
multiprocess_mode "mostrecent": the newest write wins, so a file left by an earlier main process
(if the directory was not wiped) cannot outvote the current one, whereas sum/max would add or
keep stale values. They are declared by the first `WorkerSupervisor`, which only the main process
starts, so workers never write a file for them.
"""

import collections
import contextlib
import functools
import os
import threading
import time

from prometheus_client import Counter, Gauge
from sanic.log import error_logger, logger
from sanic.worker.manager import WorkerManager
from sanic.worker.process import WorkerProcess

from app_instrumentation.compaction import compact_dead_worker
from app_instrumentation.process_metrics import MAIN_SLOT, process_gauges, read_process
from app_instrumentation.recycling import (
    MAX_REQUESTS_ENV_VAR,
    MAX_RSS_BYTES_ENV_VAR,
    RECYCLE_REQUEST_PREFIX,
    RecyclingSettings,
)
from app_instrumentation.sanic_internals import (
    configured_server_count,
    is_acknowledged,
    is_marked_exited,
    left_behind_process,
    remove_shared_state_entry,
    restart_worker,
    restart_worker_startup_first,
    server_processes,
    shared_state_entries,
    stop_before_startup,
    stop_left_behind_process,
    stop_service,
)

EXIT_CODE_RESTART_LOOP = 3
RESTART_REASONS = ("crash", "recycled", "manual")
# How often process metrics are written and resident memory is checked: far below any scrape
# interval, and reading /proc for a few processes once a second costs well under a millisecond.
PROCESS_METRICS_INTERVAL = 1.0
# Sanic's STARTUP_FIRST thread stops the old process within 0.1 s of the new one's acknowledgement;
# still there this long after it, the old process was left behind (see _stop_left_behind). Long,
# so that a thread merely starved of CPU is never taken for one that gave up.
LEFT_BEHIND_AFTER_SECONDS = 5.0


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


@functools.cache
def _restarts_counter() -> Counter:
    restarts = Counter(
        "sanic_worker_restarts",
        "Server workers that left and were replaced, by reason: crash, recycled, manual.",
        ("reason",),
    )
    for reason in RESTART_REASONS:
        restarts.labels(reason)
    return restarts


def has_exited(pid: int) -> bool:
    """Whether child `pid` has exited, without reaping it (a zombie keeps its pid taken)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped by Sanic or multiprocessing
        return True


class WorkerSupervisor:
    """Keeps the service at the configured number of server workers (see module docstring)."""

    def __init__(
        self,
        manager: WorkerManager,
        multiprocess_dir: str,
        *,
        poll_interval: float = 0.1,
        max_restarts: int = 10,
        restart_window: float = 60.0,
        recycling: RecyclingSettings | None = None,
    ) -> None:
        self._manager = manager
        self._multiprocess_dir = multiprocess_dir
        self._poll_interval = poll_interval
        self._max_restarts = max_restarts
        self._restart_window = restart_window
        self._restart_times: collections.deque[float] = collections.deque()
        self._handled_pid: dict[str, int] = {}
        self._published_counts: tuple[int, int] | None = None
        self._serving = False
        self._startup_failure_reported = False
        self._stopping = threading.Event()
        # Set when a departing worker exits, so that its files are compacted at once, not at
        # the next poll: until then they are files of no live worker.
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)
        self._workers_live, self._workers_configured = _worker_gauges()
        self._restarts = _restarts_counter()
        self._recycling = recycling or RecyclingSettings()
        # Process name -> pid of its current process, as last seen.
        self._current: dict[str, int] = {}
        # Pids that left their slot and are not compacted yet -> (process name, why they left).
        self._departing: dict[int, tuple[str, str]] = {}
        self._recycled_pids: set[int] = set()
        # Old pid -> when its replacement was first seen acknowledged while it still ran.
        self._replaced_at: dict[int, float] = {}
        self._next_process_metrics = 0.0
        self.gave_up = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._poll_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.check_workers()
            except Exception:
                error_logger.exception("worker supervisor check failed")

    def check_workers(self) -> None:
        slotted = server_processes(self._manager)
        processes = [process for _, process in slotted]
        if not self._serving:
            self._stop_if_a_worker_died_starting(processes)
            return
        for process in processes:
            if self.gave_up:
                return
            pid = process.pid
            if is_marked_exited(process) and pid and self._handled_pid.get(process.name) != pid:
                self._handled_pid[process.name] = pid
                self._replace(process, pid)
        self._note_departures(processes)
        self._stop_left_behind(processes)
        self._compact_departed()
        if self._recycling.max_requests:
            self._recycle_on_request(processes)
        now = time.monotonic()
        if now >= self._next_process_metrics:
            self._next_process_metrics = now + PROCESS_METRICS_INTERVAL
            self._write_process_metrics(slotted)
        counts = (sum(map(is_acknowledged, processes)), configured_server_count(self._manager))
        if counts != self._published_counts:
            self._workers_live.set(counts[0])
            self._workers_configured.set(counts[1])
            self._published_counts = counts

    def _stop_if_a_worker_died_starting(self, processes: list[WorkerProcess]) -> None:
        # Until every worker has been acknowledged the manager waits in wait_for_ack, where a
        # worker that exited (SystemExit from a failed check) is only noticed after 30 s.
        if processes and all(is_acknowledged(p) for p in processes):
            self._serving = True
            return
        dead = [p for p in processes if p.pid and not p.is_alive()]
        if dead and not self._startup_failure_reported:
            self._startup_failure_reported = True
            error_logger.error(
                "Worker %s (pid %s) exited with code %s before it finished starting; stopping",
                dead[0].name,
                dead[0].pid,
                dead[0].exitcode,
            )
            stop_before_startup(self._manager)

    def _replace(self, process: WorkerProcess, pid: int) -> None:
        error_logger.error(
            "Worker %s (pid %s) exited with code %s; cleaning up its metrics and restarting it",
            process.name,
            pid,
            process.exitcode,
        )
        compact_dead_worker(self._multiprocess_dir, pid)
        self._restarts.labels("crash").inc()
        now = time.monotonic()
        self._restart_times.append(now)
        while self._restart_times[0] < now - self._restart_window:
            self._restart_times.popleft()
        if len(self._restart_times) > self._max_restarts:
            error_logger.error(
                "More than %s worker restarts within %ss: shutting down to exit with code %s",
                self._max_restarts,
                self._restart_window,
                EXIT_CODE_RESTART_LOOP,
            )
            self.gave_up = True
            stop_service(self._manager)
            return
        restart_worker(self._manager, process.name)
        logger.info("Requested restart of worker %s", process.name)

    def _note_departures(self, processes: list[WorkerProcess]) -> None:
        """Record the pids that left their slot since the last check, and why."""
        seen = {process.name: process.pid for process in processes if process.pid}
        for name, pid in self._current.items():
            if seen.get(name) == pid:
                continue
            # A crashed worker was compacted and counted when it was replaced.
            if self._handled_pid.get(name) != pid:
                reason = "recycled" if pid in self._recycled_pids else "manual"
                self._departing[pid] = (name, reason)
                threading.Thread(
                    target=self._wake_when_exited, args=(pid,), name=f"wait-{pid}", daemon=True
                ).start()
        self._current = seen

    def _wake_when_exited(self, pid: int) -> None:
        with contextlib.suppress(ChildProcessError):  # reaped already: it has exited
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        self._wake.set()

    def _stop_left_behind(self, processes: list[WorkerProcess]) -> None:
        """Stop an old process Sanic's STARTUP_FIRST restart left running.

        Sanic's thread waits 30 s for the new process's acknowledgement and, if it comes later,
        gives up with a TimeoutError and never stops the old one: the slot then runs two processes
        for good, and cannot be recycled again (one old process per slot). One still there well
        after the new process was acknowledged was given up on. Stopped once, like Sanic would: a
        second SIGTERM would cut the old worker's drain short."""
        now = time.monotonic()
        by_name = {process.name: process for process in processes}
        for pid, (name, _) in self._departing.items():
            process = by_name.get(name)
            old = None if process is None else left_behind_process(process)
            if old is None or old.pid != pid or not is_acknowledged(process):
                continue
            replaced_at = self._replaced_at.setdefault(pid, now)
            if now - replaced_at < LEFT_BEHIND_AFTER_SECONDS or has_exited(pid):
                continue
            error_logger.warning(
                "Worker %s (pid %s) was left running after its replacement started late; "
                "stopping it",
                name,
                pid,
            )
            stop_left_behind_process(process)
            self._replaced_at.pop(pid)

    def _compact_departed(self) -> None:
        live_pids = set(self._current.values())
        for pid, (_, reason) in list(self._departing.items()):
            if not has_exited(pid):
                continue  # still finishing its requests
            del self._departing[pid]
            self._recycled_pids.discard(pid)
            self._replaced_at.pop(pid, None)
            # Reaped and its pid already reused by a new worker: the files are that worker's now.
            if pid not in live_pids:
                compact_dead_worker(self._multiprocess_dir, pid)
            self._restarts.labels(reason).inc()
            logger.info("Worker pid %s left (%s); its metrics files are compacted", pid, reason)

    def _recycle_on_request(self, processes: list[WorkerProcess]) -> None:
        """Recycle the workers that reached their request limit (recycling.py). A worker asks
        once: its request stays until it is done (a slot busy with an earlier recycle is asked
        again at the next check), and is removed once the worker is gone."""
        asks = {
            key: entry.get("pid")
            for key, entry in shared_state_entries(self._manager).items()
            if key.startswith(RECYCLE_REQUEST_PREFIX) and isinstance(entry, dict)
        }
        if not asks:
            return
        by_pid = {process.pid: process for process in processes}
        for key, pid in asks.items():
            process = by_pid.get(pid)
            if process is not None:
                self._recycle(process, f"it served its {MAX_REQUESTS_ENV_VAR}")
            elif pid not in self._departing:
                # Recycled and gone, or gone another way.
                remove_shared_state_entry(self._manager, key)

    def _recycle(self, process: WorkerProcess, why: str) -> None:
        """Replace `process` by a new worker started before it stops (STARTUP_FIRST)."""
        pid = process.pid
        if pid in self._recycled_pids or not is_acknowledged(process):
            return  # already being recycled, or not serving yet
        if any(name == process.name for name, _ in self._departing.values()):
            # Its previous process has not exited yet: Sanic keeps one old process per slot
            # (a second restart now would make it lose track of the first). Asked again later.
            return
        self._recycled_pids.add(pid)
        logger.info("Recycling worker %s (pid %s): %s", process.name, pid, why)
        restart_worker_startup_first(self._manager, process.name)

    def _write_process_metrics(self, slotted: list[tuple[str, WorkerProcess]]) -> None:
        gauges = process_gauges()
        main = read_process(os.getpid())
        if main is not None:
            gauges.write(MAIN_SLOT, main)
        max_rss = self._recycling.max_rss_bytes
        for slot, process in slotted:
            if not process.pid or not is_acknowledged(process):
                continue
            sample = read_process(process.pid)
            if sample is None:
                continue
            gauges.write(slot, sample)
            if max_rss and sample.resident_bytes > max_rss:
                why = f"resident memory {sample.resident_bytes} > {MAX_RSS_BYTES_ENV_VAR} {max_rss}"
                self._recycle(process, why)
