"""Kill a Sanic service's newest worker (SIGKILL) every second until a stop file appears: a worker
crash loop. It follows the service across its restarts: after more than 10 crashes within 60 s the
supervisor gives up, and systemd starts a new main process, whose workers are killed in turn.

  python3 crash_loop.py UNIT STOP_FILE MAX_SECONDS
prints {"kills": [{"pid": pid, "main_pid": pid, "at": unix seconds}, ...]} once stopped.
UNIT may be a main process's pid instead, for a service that runs without systemd.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stall_worker import workers

KILL_INTERVAL_SECONDS = 1.0


def main_pid(unit):
    """The unit's main process, 0 while it is not running (systemd is restarting it)."""
    if unit.isdigit():
        return int(unit) if Path(f"/proc/{unit}").exists() else 0
    shown = subprocess.run(
        ["systemctl", "show", "--property", "MainPID", "--value", unit],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(shown.stdout.strip() or 0)


def started(pid):
    """When the process started, in clock ticks since boot (field 22 of /proc/PID/stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def newest_worker(parent):
    candidates = []
    for pid in workers(parent):
        try:
            candidates.append((started(pid), pid))
        except (OSError, IndexError):
            continue
    return max(candidates)[1] if candidates else None


def main(argv):
    unit, stop_file, max_seconds = argv[1], Path(argv[2]), float(argv[3])
    deadline = time.monotonic() + max_seconds
    kills = []
    while not stop_file.exists() and time.monotonic() < deadline:
        tick = time.monotonic()
        parent = main_pid(unit)
        victim = newest_worker(parent) if parent else None
        if victim:
            try:
                os.kill(victim, signal.SIGKILL)
                kills.append({"pid": victim, "main_pid": parent, "at": time.time()})
            except ProcessLookupError:
                pass
        time.sleep(max(0.0, KILL_INTERVAL_SECONDS - (time.monotonic() - tick)))
    print(json.dumps({"kills": kills}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
