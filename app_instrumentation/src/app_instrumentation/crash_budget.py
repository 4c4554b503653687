"""How many crashes the supervisor replaces before it gives up on the service.

A worker that keeps dying is not restarted forever: past `max_restarts` crashes within
`restart_window` seconds the service shuts down and exits with EXIT_CODE_RESTART_LOOP, so that
systemd (`Restart=on-failure`) can act. Only crashes count: recycles and restarts done on request
are not a crash loop.
"""

import collections
import time

from sanic.log import error_logger

EXIT_CODE_RESTART_LOOP = 3


class CrashBudget:
    """The crashes of the last `restart_window` seconds, against `max_restarts`."""

    def __init__(self, max_restarts: int, restart_window: float) -> None:
        self._max_restarts = max_restarts
        self._restart_window = restart_window
        self._crash_times: collections.deque[float] = collections.deque()

    def spend(self) -> bool:
        """Count a crash now; False (and an error logged) once the budget is exceeded."""
        now = time.monotonic()
        self._crash_times.append(now)
        while self._crash_times[0] < now - self._restart_window:
            self._crash_times.popleft()
        if len(self._crash_times) <= self._max_restarts:
            return True
        error_logger.error(
            "More than %s worker restarts within %ss: shutting down to exit with code %s",
            self._max_restarts,
            self._restart_window,
            EXIT_CODE_RESTART_LOOP,
        )
        return False
