"""Worker lifecycle in the Sanic main process: replace crashed workers, compact every departed one,
recycle workers, and write per-worker process metrics.

Sanic 25.x marks a crashed worker FAILED and keeps serving with one worker fewer; it has no
child_exit hook. `WorkerSupervisor` is a thread in the main process that watches the states the
manager's own monitor loop records, and holds the concerns together, each in a module of its own:
- departures.py: every worker that left its slot (crashed, recycled, restarted on request, scaled
  down) is compacted once it has exited and counted by reason;
- crash_budget.py: a worker that keeps dying is not restarted forever;
- recycler.py: workers past their request or memory limit are replaced, new one first;
- process_metrics.py: the workers' counts and /proc figures, by slot.
For each worker that crashed the supervisor compacts it (before a replacement exists, since a new
process may reuse the pid), then asks the manager to restart that one worker through the manager's
monitor pipe, so the restart itself runs in the manager's thread like any restart Sanic does on
request; this thread never mutates the manager. Sanic's internals it reads are in
sanic_internals.py.
"""

import threading

from sanic.log import error_logger, logger
from sanic.worker.manager import WorkerManager
from sanic.worker.process import WorkerProcess

from app_instrumentation.crash_budget import CrashBudget
from app_instrumentation.departures import Departures
from app_instrumentation.process_metrics import ProcessMetricsWriter
from app_instrumentation.recycler import Recycler
from app_instrumentation.recycling import RecyclingSettings
from app_instrumentation.sanic_internals import (
    configured_server_count,
    is_acknowledged,
    restart_worker,
    server_processes,
    stop_before_startup,
    stop_service,
)


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
        self._poll_interval = poll_interval
        self._serving = False
        self._startup_failure_reported = False
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)
        self._crash_budget = CrashBudget(max_restarts, restart_window)
        self._departures = Departures(multiprocess_dir, self._wake)
        self._recycler = Recycler(manager, recycling or RecyclingSettings(), self._departures)
        self._process_metrics = ProcessMetricsWriter()
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
            if self._departures.is_new_crash(process, pid):
                self._replace(process, pid)
        self._departures.note(processes)
        self._departures.stop_left_behind(processes)
        self._departures.compact_departed()
        self._recycler.recycle_on_request(processes)
        for process, sample in self._process_metrics.write_figures_when_due(slotted):
            self._recycler.recycle_over_memory(process, sample)
        self._process_metrics.write_counts(processes, configured_server_count(self._manager))

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
        self._departures.compact_crashed(process, pid)
        if not self._crash_budget.spend():
            self.gave_up = True
            stop_service(self._manager)
            return
        restart_worker(self._manager, process.name)
        logger.info("Requested restart of worker %s", process.name)
