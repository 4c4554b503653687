"""Leave a Sanic service with one worker fewer than configured, until resumed.

The service's supervisor replaces a dead worker within a second, so a kill alone never lasts
long enough to fire SanicWorkersBelowConfigured. This kills one worker (SIGKILL) and stops its
replacement (SIGSTOP) as soon as it is spawned, before it can start serving: the supervisor waits
for it and publishes one live worker fewer. `kill -CONT <stopped>` lets it finish starting.

  python3 stall_worker.py MAIN_PID   prints {"killed": pid, "stopped": pid, "at": unix seconds}
"""

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
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            environment = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        state, parent = fields[0], int(fields[1])
        if (
            parent == main_pid
            and state != "Z"
            and any(entry.startswith(SERVER_WORKER) for entry in environment)
        ):
            found.add(int(stat.parent.name))
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
