"""Worker recycling settings, and how a worker asks the main process to recycle it.

Sanic has no `max_requests` (sanic-org/sanic 713, 3055). Here the main process's WorkerSupervisor
does every recycle, by memory or by request count, so there is one place that restarts workers
with RestartOrder.STARTUP_FIRST and knows why. Only the request count lives in the worker: it
counts in `handle_request` (one integer decrement; nothing at all when recycling by requests is
off) and, at its limit, asks once: it adds a key of its own, RECYCLE_REQUEST_PREFIX + its pid, to
Sanic's shared worker state, which the supervisor reads and removes. One IPC call per worker.

Not a field of the worker's own entry in that state: Sanic rewrites an entry whole (read, change,
write back) from the worker, its replacement and the main process, and two such rewrites at once
lose one. An old worker that asked again while its replacement started could so undo the
replacement's acknowledgement: Sanic then never stopped the old worker and the slot never counted
as live again (the 1,000-recycle runs ended so).

Settings (environment, read by the main process and by every worker; 0 or unset means off):
- SANIC_WORKER_MAX_REQUESTS: recycle a worker after this many requests;
- SANIC_WORKER_MAX_REQUESTS_JITTER: each worker's limit is max_requests + a random 0..jitter,
  drawn when it starts, so that workers started together do not recycle together;
- SANIC_WORKER_MAX_RSS_BYTES: recycle a worker whose resident memory exceeds this.
"""

import dataclasses
import os
import random

from sanic import Sanic
from sanic.log import error_logger

from app_instrumentation.sanic_internals import add_shared_state_entry
from app_instrumentation.settings import (
    MAX_REQUESTS,
    MAX_REQUESTS_JITTER,
    MAX_RSS_BYTES,
    read_environment,
)

MAX_REQUESTS_ENV_VAR = MAX_REQUESTS.environment
MAX_REQUESTS_JITTER_ENV_VAR = MAX_REQUESTS_JITTER.environment
MAX_RSS_BYTES_ENV_VAR = MAX_RSS_BYTES.environment
# Prefix of the key (prefix + pid) a worker adds to Sanic's shared worker state to ask to be
# recycled; its value is {"pid": pid} (Sanic reads every value as a dict).
RECYCLE_REQUEST_PREFIX = "app_instrumentation_recycle:"


@dataclasses.dataclass(frozen=True)
class RecyclingSettings:
    max_requests: int = 0
    max_requests_jitter: int = 0
    max_rss_bytes: int = 0

    @classmethod
    def from_environment(cls) -> "RecyclingSettings":
        """The settings, or SystemExit naming the variable the settings table refuses."""
        values = read_environment((MAX_REQUESTS, MAX_REQUESTS_JITTER, MAX_RSS_BYTES))
        return cls(
            max_requests=values[MAX_REQUESTS_ENV_VAR],
            max_requests_jitter=values[MAX_REQUESTS_JITTER_ENV_VAR],
            max_rss_bytes=values[MAX_RSS_BYTES_ENV_VAR],
        )

    def worker_request_limit(self) -> int:
        """This worker's request limit (0: no limit), jitter drawn now."""
        if not self.max_requests:
            return 0
        return self.max_requests + random.randint(0, self.max_requests_jitter)


def ask_to_be_recycled(app: Sanic) -> None:
    """Tell the main process's supervisor that this worker has served its requests."""
    pid = os.getpid()
    try:
        add_shared_state_entry(app.m, f"{RECYCLE_REQUEST_PREFIX}{pid}", {"pid": pid})
    except Exception:  # no multiplexer (single process) or the main process is gone
        error_logger.exception("could not ask the main process to recycle this worker")
