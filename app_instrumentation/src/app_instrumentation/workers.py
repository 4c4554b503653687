"""Worker lifecycle in the Sanic main process: clean up after a dead worker, then replace it.

Sanic 25.x marks a crashed worker FAILED and keeps serving with one worker fewer; it has no
child_exit hook. `WorkerSupervisor` is a thread in the main process that watches the states the
manager's own monitor loop records. For each worker that died it calls `compact_dead_worker` (which
must finish before a replacement exists, since a new process may reuse the pid) and then asks the
manager to restart that one worker through the manager's monitor pipe, so the restart itself runs
in the manager's thread like any restart Sanic does on request; this thread never mutates the
manager. A worker that keeps dying is not restarted forever: past `max_restarts` within
`restart_window` seconds the service shuts down and exits non-zero so systemd can act.

`sanic_workers_live` and `sanic_workers_configured` are written by this process only, with
multiprocess_mode "mostrecent": the newest write wins, so a file left by an earlier main process
(if the directory was not wiped) cannot outvote the current one, whereas sum/max would add or
keep stale values. They are declared by the first `WorkerSupervisor`, which only the main process
starts, so workers never write a file for them.
"""

import collections
import functools
import threading
import time

from prometheus_client import Gauge
from sanic.log import error_logger, logger
from sanic.worker.constants import ProcessState
from sanic.worker.manager import WorkerManager
from sanic.worker.process import WorkerProcess

from app_instrumentation.compaction import compact_dead_worker

EXIT_CODE_RESTART_LOOP = 3
_EXITED = frozenset((ProcessState.FAILED, ProcessState.COMPLETED))


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
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)
        self._workers_live, self._workers_configured = _worker_gauges()
        self.gave_up = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.wait(self._poll_interval):
            try:
                self.check_workers()
            except Exception:
                error_logger.exception("worker supervisor check failed")

    def _server_processes(self) -> list[WorkerProcess]:
        # Snapshots: the manager's thread may add or remove workers while we read.
        return [
            process
            for worker in list(self._manager.transient.values())
            if worker.name.startswith(WorkerProcess.SERVER_LABEL)
            for process in list(worker.processes)
        ]

    def check_workers(self) -> None:
        processes = self._server_processes()
        if not self._serving:
            self._stop_if_a_worker_died_starting(processes)
            return
        for process in processes:
            if self.gave_up:
                return
            pid = process.pid
            if process.state in _EXITED and pid and self._handled_pid.get(process.name) != pid:
                self._handled_pid[process.name] = pid
                self._replace(process, pid)
        counts = (sum(p.state is ProcessState.ACKED for p in processes), self._manager.num_server)
        if counts != self._published_counts:
            self._workers_live.set(counts[0])
            self._workers_configured.set(counts[1])
            self._published_counts = counts

    def _stop_if_a_worker_died_starting(self, processes: list[WorkerProcess]) -> None:
        # Until every worker has been acknowledged the manager waits in wait_for_ack, where a
        # worker that exited (SystemExit from a failed check) is only noticed after 30 s.
        if processes and all(p.state is ProcessState.ACKED for p in processes):
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
            self._manager.monitor_publisher.send("__TERMINATE_EARLY__")

    def _replace(self, process: WorkerProcess, pid: int) -> None:
        error_logger.error(
            "Worker %s (pid %s) exited with code %s; cleaning up its metrics and restarting it",
            process.name,
            pid,
            process.exitcode,
        )
        compact_dead_worker(self._multiprocess_dir, pid)
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
            self._manager.monitor_publisher.send("__TERMINATE__")
            return
        self._manager.monitor_publisher.send(process.name)
        logger.info("Requested restart of worker %s", process.name)
