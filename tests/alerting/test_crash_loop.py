"""molecule/resources/crash_loop.py, the lab's worker crash loop for SanicWorkerCrashLoop, on a real
multi-worker service: it kills the newest worker about once a second until its deadline or its stop
file, and the service serves all its workers again afterwards."""

import json
import subprocess
import sys

import pytest

from sanic_testkit.service import DEMO_APP, SanicService

from .render import REPO

CRASH_LOOP = REPO / "molecule" / "resources" / "crash_loop.py"


def crash_loop(main_pid: int, stop_file, seconds: float) -> list[dict]:
    ran = subprocess.run(
        [sys.executable, CRASH_LOOP, str(main_pid), stop_file, str(seconds)],
        cwd=CRASH_LOOP.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    )
    return json.loads(ran.stdout)["kills"]


@pytest.mark.timeout(120)
def test_a_worker_is_killed_about_every_second_until_the_deadline_or_the_stop_file(tmp_path):
    stop_file = tmp_path / "stop"
    with SanicService(workers=2, launcher=True, INSTRUMENTED_APP=DEMO_APP) as service:
        before = set(service.worker_pids().values())

        kills = crash_loop(service.process.pid, stop_file, 4.5)

        # Kills start at 0, 1, 2, 3 and 4 s; a slow /proc scan on a busy machine may skip one.
        assert 4 <= len(kills) <= 5, kills
        assert {kill["main_pid"] for kill in kills} == {service.process.pid}
        # A live worker each time: the first an original one, never the same process twice.
        assert kills[0]["pid"] in before
        assert len({kill["pid"] for kill in kills}) == len(kills)
        service.wait_for_live_workers(2, timeout=30)

        stop_file.touch()
        assert crash_loop(service.process.pid, stop_file, 4.5) == []
        service.wait_for_live_workers(2, timeout=30)
