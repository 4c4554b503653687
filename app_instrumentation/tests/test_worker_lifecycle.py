"""Every way a worker leaves is compacted and counted; recycling replaces a worker without a gap.

Real `sanic --workers N` services (the demo app plus tests/lifecycle_app.py's routes).
"""

import http.client
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from app_instrumentation.instrumentation import DRAIN_SECONDS
from app_instrumentation.recycling import (
    MAX_REQUESTS_ENV_VAR,
    MAX_REQUESTS_JITTER_ENV_VAR,
    MAX_RSS_BYTES_ENV_VAR,
    RecyclingSettings,
)
from sanic_testkit.service import SanicService, free_port, request_counts

LIFECYCLE_APP = "lifecycle_app:create_app"
RESTART_TIMEOUT = 30
WATCHED_FILE = "watched.txt"


def restarts(service: SanicService) -> dict[str, float]:
    return {
        dict(labels)["reason"]: value
        for (name, labels), value in service.scrape().items()
        if name == "sanic_worker_restarts_total"
    }


def wait_for(condition, timeout: float = RESTART_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def files_of(service: SanicService, pids) -> list[str]:
    suffixes = tuple(f"_{pid}.db" for pid in pids)
    return [name for name in os.listdir(service.multiprocess_dir) if name.endswith(suffixes)]


def served_by(service: SanicService, requests: int) -> set[int]:
    pids = set()
    for _ in range(requests):
        status, _, body = service.request("GET", "/pid")
        assert status == 200
        pids.add(int(body))
    return pids


def drive(service: SanicService, requests: int) -> int:
    """Sends requests to make workers reach their limit; each must be answered, recycles or not
    (a stopping worker answers every connection it accepted). Returns how many were sent."""
    for _ in range(requests):
        status, _, _ = service.request("GET", "/pid")
        assert status == 200
    return requests


def counted(service: SanicService, route: str) -> float:
    return sum(
        value
        for (counted_route, _, status), value in request_counts(service.scrape()).items()
        if counted_route == route and status == "200"
    )


def test_a_recycled_worker_is_replaced_first_finishes_its_request_and_is_compacted():
    # Scrapes count too: the start-up's readiness checks already took a few of the 20.
    with SanicService(
        workers=1, INSTRUMENTED_APP=LIFECYCLE_APP, **{MAX_REQUESTS_ENV_VAR: "20"}
    ) as service:
        (old_pid,) = service.worker_pids().values()
        slow = {}
        slow_request = threading.Thread(
            target=lambda: slow.update(answer=service.request("GET", "/slow?seconds=3"))
        )
        slow_request.start()
        time.sleep(0.3)
        sent = 0
        while "Recycling worker" not in service.log():
            served_by(service, 1)
            sent += 1
            assert sent <= 100, service.log()
            time.sleep(0.05)  # the supervisor looks every 0.1 s

        assert wait_for(lambda: restarts(service)["recycled"] == 1), service.log()
        slow_request.join()
        (new_pid,) = service.worker_pids().values()
        log = service.log()

        assert slow["answer"][0] == 200
        assert new_pid != old_pid
        # STARTUP_FIRST: the replacement was serving before the old worker began to stop.
        assert log.index(f"Worker ready [{new_pid}]") < log.index(f"Stopping worker [{old_pid}]")
        assert files_of(service, [old_pid]) == []
        assert counted(service, "/pid") == sent
        assert counted(service, "/slow") == 1
        assert restarts(service) == {"crash": 0, "recycled": 1, "manual": 0}


def test_jitter_gives_each_worker_a_limit_between_max_requests_and_max_plus_jitter():
    settings = RecyclingSettings(max_requests=100, max_requests_jitter=10)
    limits = {settings.worker_request_limit() for _ in range(1000)}
    assert min(limits) >= 100
    assert max(limits) <= 110
    assert len(limits) > 5


def test_recycles_are_not_a_crash_loop():
    # 12 recycles: more than the crash budget of 10 (within a minute on a machine that is not
    # overloaded). A limit of 30, not 1: the start-up's readiness scrapes count too, and workers
    # recycled while it waits would keep it from ever seeing both live.
    limit = 30
    with SanicService(
        workers=2, INSTRUMENTED_APP=LIFECYCLE_APP, **{MAX_REQUESTS_ENV_VAR: str(limit)}
    ) as service:
        assert wait_for(
            lambda: drive(service, limit) and restarts(service)["recycled"] >= 12,
            timeout=180,
        ), service.log()

        assert service.process.poll() is None
        assert restarts(service)["crash"] == 0
        assert "worker restarts within" not in service.log()


def test_a_worker_over_its_resident_memory_limit_is_recycled():
    limit = 150 * 1024 * 1024  # a worker of the demo app takes about 45 MiB
    with SanicService(
        workers=1,
        INSTRUMENTED_APP="lifecycle_app:create_growing_app",
        **{MAX_RSS_BYTES_ENV_VAR: str(limit)},
    ) as service:
        (old_pid,) = service.worker_pids().values()
        service.request("GET", "/grow?mb=200")

        assert wait_for(lambda: restarts(service)["recycled"] == 1), service.log()
        assert "resident memory" in service.log()
        assert list(service.worker_pids().values()) != [old_pid]
        assert files_of(service, [old_pid]) == []
        assert wait_for(
            lambda: (
                0
                < service.scrape()[
                    ("sanic_worker_resident_memory_bytes", frozenset({("slot", "0")}))
                ]
                < limit
            )
        )


def restart_through_multiplexer(service: SanicService) -> set[int]:
    """Restarts the worker that answers, only that one; returns its pid."""
    return {int(service.request("GET", "/restart-me")[2])}


def restart_through_inspector(service: SanicService) -> set[int]:
    old_pids = set(service.worker_pids().values())
    status, _, body = service.request_inspector("POST", "/reload")
    assert status == 200, body
    return old_pids


def restart_through_auto_reload(service: SanicService) -> set[int]:
    old_pids = set(service.worker_pids().values())
    watched = service.reload_dir / WATCHED_FILE
    later = watched.stat().st_mtime + 10  # the reloader compares modification times
    os.utime(watched, (later, later))
    return old_pids


@pytest.mark.parametrize(
    "restart",
    [restart_through_multiplexer, restart_through_inspector, restart_through_auto_reload],
    ids=["app.m.restart", "inspector", "auto-reload"],
)
def test_a_worker_restarted_on_request_is_compacted_and_counted_manual(restart, tmp_path):
    inspector_port = free_port()
    (tmp_path / WATCHED_FILE).write_text("seen by the reloader at start\n")
    with SanicService(
        workers=2,
        INSTRUMENTED_APP=LIFECYCLE_APP,
        sanic_options=["--auto-reload", "--reload-dir", str(tmp_path)]
        if restart is restart_through_auto_reload
        else [],
        SANIC_INSPECTOR="true",
        SANIC_INSPECTOR_PORT=str(inspector_port),
    ) as service:
        service.reload_dir = tmp_path
        service.request_inspector = lambda method, path: _inspector(inspector_port, method, path)
        served_by(service, 10)

        restarted = restart(service)

        assert wait_for(lambda: restarts(service)["manual"] == len(restarted)), service.log()
        service.wait_for_live_workers(2, RESTART_TIMEOUT)
        assert not restarted & set(service.worker_pids().values())
        assert wait_for(lambda: files_of(service, restarted) == []), os.listdir(
            service.multiprocess_dir
        )
        assert counted(service, "/pid") == 10
        assert restarts(service) == {"crash": 0, "recycled": 0, "manual": len(restarted)}


def _inspector(port: int, method: str, path: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_a_crashed_worker_is_compacted_and_counted_crash():
    with SanicService(workers=2, INSTRUMENTED_APP=LIFECYCLE_APP) as service:
        served_by(service, 10)
        killed = service.worker_pids()["Sanic-Server-0-0"]
        os.kill(killed, signal.SIGKILL)

        assert wait_for(lambda: restarts(service)["crash"] == 1), service.log()
        service.wait_for_live_workers(2, RESTART_TIMEOUT)
        assert files_of(service, [killed]) == []
        assert counted(service, "/pid") == 10
        assert restarts(service) == {"crash": 1, "recycled": 0, "manual": 0}


def test_process_metrics_of_every_slot_and_the_main_process_match_proc():
    with SanicService(workers=2, INSTRUMENTED_APP=LIFECYCLE_APP) as service:
        time.sleep(1.5)  # one process metrics interval after every worker started
        samples = service.scrape()
        pids = {"main": service.process.pid} | {
            re.match(r"Sanic-Server-(\d+)-0", name)[1]: pid
            for name, pid in service.worker_pids().items()
        }

        def by_slot(metric):
            return {
                dict(labels)["slot"]: value
                for (name, labels), value in samples.items()
                if name == metric
            }

        resident = by_slot("sanic_worker_resident_memory_bytes")
        assert set(resident) == {"main", "0", "1"}
        page = os.sysconf("SC_PAGE_SIZE")
        for slot, pid in pids.items():
            now_resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
            assert abs(resident[slot] - now_resident) < 8 * 1024 * 1024
            assert by_slot("sanic_worker_open_fds")[slot] == pytest.approx(
                len(os.listdir(f"/proc/{pid}/fd")), abs=4
            )
            assert 0 < by_slot("sanic_worker_cpu_seconds")[slot] < 30
        start = by_slot("sanic_worker_start_time_seconds")
        assert start["main"] <= start["0"] <= time.time()
        assert time.time() - start["main"] < 60
        # Written by the main process only: no per-pid file of these gauges in the workers' pids.
        assert files_of(service, pids.values()) and not [
            name
            for name in files_of(service, list(pids.values())[1:])
            if name.startswith("gauge_mostrecent")
        ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [(MAX_REQUESTS_ENV_VAR, "ten"), (MAX_REQUESTS_ENV_VAR, "-1"), (MAX_RSS_BYTES_ENV_VAR, "1e9")],
)
def test_a_bad_setting_stops_the_start_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit, match=f"{variable}={re.escape(value)} is not a whole number"):
        RecyclingSettings.from_environment()


def test_jitter_without_max_requests_is_refused(monkeypatch):
    monkeypatch.setenv(MAX_REQUESTS_JITTER_ENV_VAR, "10")
    monkeypatch.delenv(MAX_REQUESTS_ENV_VAR, raising=False)
    with pytest.raises(SystemExit, match=f"{MAX_REQUESTS_JITTER_ENV_VAR}=10 without"):
        RecyclingSettings.from_environment()


def test_a_service_with_a_bad_setting_does_not_start():
    with pytest.raises(RuntimeError, match=f"{MAX_REQUESTS_ENV_VAR}=many is not a whole number"):
        SanicService(workers=2, **{MAX_REQUESTS_ENV_VAR: "many"}).__enter__()


def test_a_connection_accepted_as_a_worker_stops_is_answered_not_closed_as_idle():
    """Sanic closes every connection that has no request in progress when its drain ends: one
    it accepted a moment before, whose client has not sent its request yet, would be closed
    unanswered. Here the request is sent just after the drain ended (the worker has stopped
    accepting by then); the worker that accepted the connection must answer it."""
    with SanicService(workers=1, INSTRUMENTED_APP=LIFECYCLE_APP) as service:
        (pid,) = service.worker_pids().values()
        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: f"Stopping worker [{pid}]" in service.log(), timeout=10)
        drain_ends = time.monotonic() + DRAIN_SECONDS
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as client:
            time.sleep(drain_ends - time.monotonic() + 0.3)
            client.sendall(b"GET /pid HTTP/1.1\r\nHost: test\r\n\r\n")
            answer = client.makefile("rb").read()

        assert answer.startswith(b"HTTP/1.1 200"), (answer, service.log()[-3000:])
        assert answer.endswith(str(pid).encode()), answer


def test_a_worker_that_stops_folds_its_own_files_before_it_exits():
    # The main process is frozen, so it cannot be the one that compacts: the worker's files must
    # be gone by the time the worker has exited, with no moment where files of no live process
    # sit in the directory.
    with SanicService(workers=2, INSTRUMENTED_APP=LIFECYCLE_APP) as service:
        served_by(service, 20)
        stopped = service.worker_pids()["Sanic-Server-0-0"]
        assert files_of(service, [stopped])
        os.kill(service.process.pid, signal.SIGSTOP)
        try:
            os.kill(stopped, signal.SIGTERM)
            assert wait_for(lambda: stopped not in service.worker_pids().values())
            left = files_of(service, [stopped])
        finally:
            os.kill(service.process.pid, signal.SIGCONT)

        assert left == []
        assert wait_for(lambda: restarts(service)["crash"] == 1), service.log()
        assert counted(service, "/pid") == 20


def test_an_old_worker_left_running_by_a_late_replacement_is_stopped(tmp_path):
    # Sanic gives up waiting (here after 2 s, not 30) for a replacement that starts late (4 s),
    # and would leave the old worker running next to it for good.
    marker = tmp_path / "start-late"
    with SanicService(
        workers=1,
        INSTRUMENTED_APP="lifecycle_app:create_late_starting_app",
        LATE_START_MARKER=str(marker),
        **{MAX_REQUESTS_ENV_VAR: "30"},
    ) as service:
        (old_pid,) = service.worker_pids().values()
        marker.touch()
        sent = 0
        while "Recycling worker" not in service.log():
            served_by(service, 1)
            sent += 1
            assert sent <= 100, service.log()
            time.sleep(0.05)

        assert wait_for(lambda: restarts(service)["recycled"] == 1, timeout=60), service.log()
        log = service.log()
        assert "failed to come ack within 2.0 seconds" in log
        assert f"(pid {old_pid}) was left running after its replacement started late" in log
        assert old_pid not in service.worker_pids().values()
        assert len(service.worker_pids()) == 1
        assert files_of(service, [old_pid]) == []
