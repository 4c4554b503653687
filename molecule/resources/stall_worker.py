"""Leave a Sanic service with one worker fewer than configured, until resumed.

The service's supervisor replaces a dead worker within a second, so a kill alone never lasts
long enough to fire SanicWorkersBelowConfigured. This kills one worker (SIGKILL) and stops its
replacement (SIGSTOP) as soon as it is spawned, before it can start serving: the supervisor waits
for it and publishes one live worker fewer. `kill -CONT <stopped>` lets it finish starting.

  python3 stall_worker.py MAIN_PID   prints {"killed": pid, "stopped": pid, "at": unix seconds}
"""

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

SPAWN_TIMEOUT_SECONDS = 30


SERVER_WORKER = b"SANIC_WORKER_NAME=Sanic-Server-"


def workers(main_pid):
    """Pids of the main process's server workers (Sanic names them in their environment)."""
    # The kernel's list of the main process's children, not a scan of /proc: a host running the
    # lab fleet has hundreds of processes, and a loaded machine's scan outlasted a replacement's
    # start (CI, 2026-12-06: it was stopped after it began serving, and nothing fell).
    children = set()
    for task_children in Path(f"/proc/{main_pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            children.update(int(pid) for pid in task_children.read_text().split())
    found = set()
    for pid in children:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if state != "Z" and any(entry.startswith(SERVER_WORKER) for entry in environment):
            found.add(pid)
    return found


def main(argv):
    main_pid = int(argv[1])
    before = workers(main_pid)
    if not before:
        sys.exit(f"no worker process under main pid {main_pid}")
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    at = time.time()
    deadline = time.monotonic() + SPAWN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        spawned = workers(main_pid) - before
        if spawned:
            replacement = spawned.pop()
            os.kill(replacement, signal.SIGSTOP)
            print(json.dumps({"killed": victim, "stopped": replacement, "at": at}))
            return 0
        time.sleep(0.005)
    sys.exit(f"no replacement for worker {victim} within {SPAWN_TIMEOUT_SECONDS} s")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
