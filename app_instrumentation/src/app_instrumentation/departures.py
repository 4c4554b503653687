"""Workers that left their slot, in the Sanic main process: noticed, compacted once they have
exited, and counted by why they left.

A worker leaves by crashing, or without dying on its own: recycled by the supervisor, restarted
through the Inspector, `app.m.restart` or auto-reload, or scaled down. A crashed worker is
compacted at once (it has exited, and its replacement is only asked for afterwards, since a new
process may reuse the pid). Any other departure shows up as a slot whose pid changed (or a slot
that went away); the old pid is compacted once it has exited, which `os.waitid(..., WNOWAIT)` sees
without reaping it, so that its pid cannot be reused before the compaction (with STARTUP_FIRST the
old worker still finishes its in-flight requests first). Every departure counts in
`sanic_worker_restarts_total{reason}`: crash, recycled (by the supervisor, see recycler.py) or
manual (any restart Sanic did on request).
"""

import contextlib
import functools
import os
import threading
import time

from prometheus_client import Counter
from sanic.log import error_logger, logger
from sanic.worker.process import WorkerProcess

from app_instrumentation.compaction import compact_dead_worker
from app_instrumentation.sanic_internals import (
    is_acknowledged,
    is_marked_exited,
    left_behind_process,
    stop_left_behind_process,
)

RESTART_REASONS = ("crash", "recycled", "manual")
# Sanic's STARTUP_FIRST thread stops the old process within 0.1 s of the new one's acknowledgement;
# still there this long after it, the old process was left behind (see stop_left_behind). Long,
# so that a thread merely starved of CPU is never taken for one that gave up.
LEFT_BEHIND_AFTER_SECONDS = 5.0


@functools.cache
def restarts_counter() -> Counter:
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


class Departures:
    """The pids that left their slot, until each is compacted and counted (see module docstring).

    wake: set when a departing worker exits, so that its files are compacted at once, not at the
    next check: until then they are files of no live worker."""

    def __init__(self, multiprocess_dir: str, wake: threading.Event) -> None:
        self._multiprocess_dir = multiprocess_dir
        self._wake = wake
        self._restarts = restarts_counter()
        # Process name -> pid of its last crashed process, compacted and counted already.
        self._crashed_pid: dict[str, int] = {}
        # Process name -> pid of its current process, as last seen.
        self._current: dict[str, int] = {}
        # Pids that left their slot and are not compacted yet -> (process name, why they left).
        self._departing: dict[int, tuple[str, str]] = {}
        self._recycled_pids: set[int] = set()
        # Old pid -> when its replacement was first seen acknowledged while it still ran.
        self._replaced_at: dict[int, float] = {}

    def is_new_crash(self, process: WorkerProcess, pid: int) -> bool:
        """Whether `process` (`pid`) exited on its own and was not handled yet; marks it handled."""
        if not (is_marked_exited(process) and pid and self._crashed_pid.get(process.name) != pid):
            return False
        self._crashed_pid[process.name] = pid
        return True

    def compact_crashed(self, process: WorkerProcess, pid: int) -> None:
        error_logger.error(
            "Worker %s (pid %s) exited with code %s; cleaning up its metrics and restarting it",
            process.name,
            pid,
            process.exitcode,
        )
        compact_dead_worker(self._multiprocess_dir, pid)
        self._restarts.labels("crash").inc()

    def note(self, processes: list[WorkerProcess]) -> None:
        """Record the pids that left their slot since the last check, and why."""
        seen = {process.name: process.pid for process in processes if process.pid}
        for name, pid in self._current.items():
            if seen.get(name) == pid:
                continue
            # A crashed worker was compacted and counted when it was replaced.
            if self._crashed_pid.get(name) != pid:
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

    def mark_recycled(self, pid: int) -> None:
        """`pid` is being recycled by the supervisor: it departs as "recycled"."""
        self._recycled_pids.add(pid)

    def is_being_recycled(self, pid: int) -> bool:
        return pid in self._recycled_pids

    def is_departing(self, pid: int) -> bool:
        return pid in self._departing

    def slot_has_departing(self, process_name: str) -> bool:
        """Whether an earlier process of this slot has left it and not exited yet."""
        return any(name == process_name for name, _ in self._departing.values())

    def stop_left_behind(self, processes: list[WorkerProcess]) -> None:
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

    def compact_departed(self) -> None:
        """Compact and count every departed pid that has exited."""
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
