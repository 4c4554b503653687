"""Recycling in the Sanic main process: which workers to replace, and asking Sanic to do it.

A worker is recycled when it asked to be, having served its request limit (its request lands in
Sanic's shared worker state, see recycling.py), or when its resident memory exceeds the limit
(read by process_metrics.py). Every recycle starts the replacement before the old worker stops
(RestartOrder.STARTUP_FIRST), and the old pid then departs as "recycled" (departures.py).
"""

from sanic.log import logger
from sanic.worker.manager import WorkerManager
from sanic.worker.process import WorkerProcess

from app_instrumentation.departures import Departures
from app_instrumentation.process_metrics import ProcessSample
from app_instrumentation.recycling import (
    MAX_REQUESTS_ENV_VAR,
    MAX_RSS_BYTES_ENV_VAR,
    RECYCLE_REQUEST_PREFIX,
    RecyclingSettings,
)
from app_instrumentation.sanic_internals import (
    is_acknowledged,
    remove_shared_state_entry,
    restart_worker_startup_first,
    shared_state_entries,
)


class Recycler:
    """Recycles the manager's workers by `settings`, one old process per slot at a time."""

    def __init__(
        self, manager: WorkerManager, settings: RecyclingSettings, departures: Departures
    ) -> None:
        self._manager = manager
        self._settings = settings
        self._departures = departures

    def recycle_on_request(self, processes: list[WorkerProcess]) -> None:
        """Recycle the workers that reached their request limit. A worker asks once: its request
        stays until it is done (a slot busy with an earlier recycle is asked again at the next
        check), and is removed once the worker is gone."""
        if not self._settings.max_requests:
            return
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
                self.recycle(process, f"it served its {MAX_REQUESTS_ENV_VAR}")
            elif not self._departures.is_departing(pid):
                # Recycled and gone, or gone another way.
                remove_shared_state_entry(self._manager, key)

    def recycle_over_memory(self, process: WorkerProcess, sample: ProcessSample) -> None:
        max_rss = self._settings.max_rss_bytes
        if max_rss and sample.resident_bytes > max_rss:
            why = f"resident memory {sample.resident_bytes} > {MAX_RSS_BYTES_ENV_VAR} {max_rss}"
            self.recycle(process, why)

    def recycle(self, process: WorkerProcess, why: str) -> None:
        """Replace `process` by a new worker started before it stops (STARTUP_FIRST)."""
        pid = process.pid
        if self._departures.is_being_recycled(pid) or not is_acknowledged(process):
            return  # already being recycled, or not serving yet
        if self._departures.slot_has_departing(process.name):
            # Its previous process has not exited yet: Sanic keeps one old process per slot
            # (a second restart now would make it lose track of the first). Asked again later.
            return
        self._departures.mark_recycled(pid)
        logger.info("Recycling worker %s (pid %s): %s", process.name, pid, why)
        restart_worker_startup_first(self._manager, process.name)
