"""molecule/resources/stall_worker.py, the lab's fault for SanicWorkersBelowConfigured, on a real
multi-worker service: one worker fewer than configured until the stopped replacement resumes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sanic_testkit.service import DEMO_APP, SanicService

from .render import REPO

STALL_WORKER = REPO / "molecule" / "resources" / "stall_worker.py"
LIVE = ("sanic_workers_live", frozenset())
CONFIGURED = ("sanic_workers_configured", frozenset())


@pytest.mark.timeout(120)
def test_a_stalled_replacement_keeps_one_worker_fewer_until_it_resumes():
    with SanicService(workers=3, launcher=True, INSTRUMENTED_APP=DEMO_APP) as service:
        stalled = subprocess.run(
            [sys.executable, STALL_WORKER, str(service.process.pid)],
            capture_output=True,
            text=True,
            check=True,
        )
        stopped = json.loads(stalled.stdout)["stopped"]
        try:
            seen = []
            for _ in range(10):
                time.sleep(1)
                samples = service.scrape()
                seen.append((samples[LIVE], samples[CONFIGURED]))
            assert seen[2:] == [(2.0, 3.0)] * 8, seen
        finally:
            os.kill(stopped, signal.SIGCONT)
        service.wait_for_live_workers(3, timeout=30)
