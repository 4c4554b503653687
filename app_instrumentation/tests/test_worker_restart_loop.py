"""Workers that keep dying are not restarted forever: the service exits non-zero for systemd."""

import os
import signal
import subprocess
import time

from app_instrumentation.crash_budget import EXIT_CODE_RESTART_LOOP
from sanic_testkit.service import SanicService

WORKERS = 4
KILL_ROUNDS = 3  # 12 restarts within seconds, over the supervisor's budget of 10 per minute


def session_processes(session_id: int) -> bool:
    return subprocess.run(["pgrep", "-s", str(session_id)], capture_output=True).returncode == 0


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_service_exits_with_restart_loop_code_after_too_many_worker_deaths():
    with SanicService(workers=WORKERS) as service:
        for _ in range(KILL_ROUNDS):
            service.wait_for_live_workers(WORKERS, timeout=30)
            for pid in service.worker_pids().values():
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)

        exit_code = service.process.wait(timeout=60)

        assert exit_code == EXIT_CODE_RESTART_LOOP, service.log()
        assert service.log().count("More than 10 worker restarts within 60.0s") == 1
        assert wait_for(lambda: not session_processes(service.process.pid), timeout=10)
