"""One merger process per service, started and replaced by Sanic's main process; workers forward
scrapes to it over a Unix socket that no other local user reaches; scrapes stay exact when it
dies, when scrapers collide, when a worker is replaced, and a stopped merger costs a 503, not the
workers' requests."""

import asyncio
import gzip
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from app_instrumentation.exposition import MERGER_SOCKET_ENV_VAR, Merger, MergerClient
from app_instrumentation.render import render
from sanic_testkit.service import (
    SanicService,
    free_port,
    parse_exposition,
    process_tree,
    request_counts,
    sanic_command,
    send_requests,
    service_environment,
)
from sanic_testkit.worker_farm import http_metrics, http_operations

WORKERS = 4
MERGER_ARGUMENTS = ["-m", "app_instrumentation.merger"]
MERGE_TIMEOUT_SECONDS = 3.0
HELLO = ("/", "GET", "200")
# A hello request served while the merger is stopped must not wait for it.
HELLO_BUDGET_SECONDS = 0.5


@pytest.fixture(scope="module")
def service():
    with SanicService(
        workers=WORKERS,
        INSTRUMENTED_APP="pid_app:create_app",
        METRICS_MERGE_TIMEOUT_SECONDS=str(MERGE_TIMEOUT_SECONDS),
    ) as running:
        yield running


def mergers(pid: int) -> list[int]:
    """Live merger processes in `pid`'s process tree."""
    found = []
    for process in process_tree(pid):
        try:
            arguments = Path(f"/proc/{process}/cmdline").read_bytes().decode().split("\0")
            state = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if arguments[1:3] == MERGER_ARGUMENTS and state != "Z":
            found.append(process)
    return found


def environment_of(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def wait_until(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def the_merger(service) -> int:
    found = wait_until(
        lambda: len(mergers(service.process.pid)) == 1 and mergers(service.process.pid)
    )
    assert found, f"expected one merger, found {mergers(service.process.pid)}"
    return found[0]


def hello_count(service) -> float:
    return request_counts(service.scrape()).get(HELLO, 0)


def send_hellos(service, count: int) -> None:
    statuses = asyncio.run(send_requests(service.port, [("GET", "/")] * count, connections=8))
    assert Counter(statuses) == {200: count}


def scrape_in_thread(service) -> tuple[threading.Thread, list]:
    answers = []
    thread = threading.Thread(
        target=lambda: answers.append(service.request("GET", "/metrics", timeout=30))
    )
    thread.start()
    return thread, answers


def test_one_merger_per_service_child_of_the_main_process_whatever_the_worker_count(service):
    for _ in range(WORKERS * 10):
        service.scrape()

    merger = the_merger(service)
    merger_socket = Path(f"/proc/{merger}/cmdline").read_bytes().split(b"\0")[4].decode()
    workers = service.worker_pids().values()

    parent = int(Path(f"/proc/{merger}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert parent == service.process.pid
    # Spawned workers inherit the path the main process set before starting them.
    assert {environment_of(worker)[MERGER_SOCKET_ENV_VAR] for worker in workers} == {merger_socket}
    assert all(mergers(worker) == [] for worker in workers)
    written_by = {name.rsplit("_", 1)[1][:-3] for name in os.listdir(service.multiprocess_dir)}
    assert str(merger) not in written_by


def test_the_merger_loads_neither_sanic_asyncio_nor_an_http_server():
    check = (
        "import sys; from app_instrumentation.merger import load_render; load_render(); "
        "print(sorted({'sanic', 'asyncio', 'wsgiref.handlers'} & {*sys.modules}))"
    )

    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)

    assert result.stdout == "[]\n", result.stderr


def test_the_merger_answers_exactly_what_render_gives_in_an_ordinary_process(
    farm, metrics_dir, monkeypatch
):
    farm.run_workers(str(metrics_dir), http_metrics(), http_operations(5), count=3)
    merger = Merger(str(metrics_dir)).start()
    monkeypatch.setenv(MERGER_SOCKET_ENV_VAR, merger.socket_path)
    client = MergerClient(str(metrics_dir))
    asked = [("", ""), ("application/openmetrics-text; version=1.0.0", ""), ("", "gzip")]

    async def ask_all():
        return [await client.render(accept, encoding) for accept, encoding in asked]

    try:
        answers = asyncio.run(ask_all())
    finally:
        merger.stop()

    for (accept, encoding), (body, content_type, headers) in zip(asked, answers, strict=True):
        expected = render(str(metrics_dir), accept, encoding)
        if encoding:
            # gzip's header holds the time it compressed: compare what it holds.
            body, expected_body = gzip.decompress(body), gzip.decompress(expected.body)
        else:
            expected_body = expected.body
        assert (body, content_type, headers) == (expected_body, *expected[1:])
    assert not os.path.exists(merger.private_dir)


def test_merger_socket_sits_in_a_directory_only_the_service_user_can_enter(service):
    socket_path = Path(
        environment_of(next(iter(service.worker_pids().values())))[MERGER_SOCKET_ENV_VAR]
    )

    directory = socket_path.parent.stat()

    assert (directory.st_mode & 0o777, directory.st_uid) == (0o700, os.getuid())


CONNECT_AND_ASK = """
import socket, sys
client = socket.socket(socket.AF_UNIX)
try:
    client.connect(sys.argv[1])
except OSError as error:
    print(type(error).__name__)
    raise SystemExit(0)
client.sendall(b'{"accept": "", "accept_encoding": ""}\\n')
print(client.recv(200).decode(errors="replace").split("\\n")[0])
"""


def ask_merger_as(user: str | None, socket_path: str) -> str:
    result = subprocess.run(
        ["/usr/bin/python3", "-c", CONNECT_AND_ASK, socket_path],
        user=user,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.stdout.strip() or result.stderr


def test_another_local_user_cannot_reach_the_merger_but_the_service_user_can(service):
    socket_path = environment_of(next(iter(service.worker_pids().values())))[MERGER_SOCKET_ENV_VAR]

    assert ask_merger_as("nobody", socket_path) == "PermissionError"
    assert '"content_type": "text/plain; version=' in ask_merger_as(None, socket_path)


def test_a_merger_killed_mid_scrape_is_replaced_and_the_scrape_retried_exactly(service):
    before = hello_count(service)
    send_hellos(service, 50)
    merger = the_merger(service)
    # Stopped, it accepts the scrape's connection and never answers: the scrape is in progress.
    os.kill(merger, signal.SIGSTOP)
    scrape, answers = scrape_in_thread(service)
    time.sleep(0.3)

    os.kill(merger, signal.SIGKILL)
    scrape.join()

    status, _, body = answers[0]
    assert status == 200, body
    assert request_counts(service.scrape()).get(HELLO) == before + 50
    replacement = the_merger(service)
    assert replacement != merger


def test_two_scrapers_at_the_same_moment_both_get_exact_answers(service):
    send_hellos(service, 30)
    expected = hello_count(service)
    barrier = threading.Barrier(2)
    answers = []

    def scrape():
        barrier.wait()
        answers.append(hello_count(service))

    scrapers = [threading.Thread(target=scrape) for _ in range(2)]
    for scraper in scrapers:
        scraper.start()
    for scraper in scrapers:
        scraper.join()

    assert answers == [expected, expected]


def test_scrapes_while_a_worker_is_killed_and_replaced_stay_exact(service):
    send_hellos(service, 200)
    expected = hello_count(service)
    answered, lost = [], []
    stop = threading.Event()

    def scrape_until_stopped():
        while not stop.is_set():
            try:
                status, _, body = service.request("GET", "/metrics")
            except (OSError, http.client.HTTPException) as error:
                lost.append(error)
                continue
            assert status == 200, body
            answered.append(request_counts(parse_exposition(body.decode())).get(HELLO))

    scraper = threading.Thread(target=scrape_until_stopped)
    scraper.start()
    time.sleep(0.2)
    victim = service.worker_pids()["Sanic-Server-1-0"]
    os.kill(victim, signal.SIGKILL)
    replaced = wait_until(
        lambda: service.worker_pids().get("Sanic-Server-1-0") not in (None, victim), timeout=20
    )
    time.sleep(0.3)
    stop.set()
    scraper.join()

    assert replaced
    service.wait_for_live_workers(WORKERS, timeout=30)
    # A scrape the killed worker was serving dies with its connection; every answer is exact.
    assert len(lost) <= 1, lost
    assert len(answered) > 5
    assert set(answered) == {expected}


def test_a_stopped_merger_makes_scrapes_answer_503_in_time_while_every_worker_serves(service):
    service.wait_for_live_workers(WORKERS, timeout=30)
    merger = the_merger(service)
    os.kill(merger, signal.SIGSTOP)
    try:
        scrape, answers = scrape_in_thread(service)
        started = time.monotonic()
        served_by, slowest = set(), 0.0
        while len(served_by) < WORKERS and time.monotonic() - started < 10:
            asked = time.monotonic()
            status, _, body = service.request("GET", "/pid")
            slowest = max(slowest, time.monotonic() - asked)
            assert status == 200
            served_by.add(int(body))
        scrape.join()
        waited = time.monotonic() - started
    finally:
        os.kill(merger, signal.SIGCONT)

    assert served_by == set(service.worker_pids().values())
    assert slowest < HELLO_BUDGET_SECONDS
    assert answers[0][0] == 503
    assert MERGE_TIMEOUT_SECONDS - 0.1 <= waited < MERGE_TIMEOUT_SECONDS + 2
    # Continued, it answers again (the scrapes queued meanwhile are answered to nobody).
    assert service.scrape()[("sanic_workers_live", frozenset())] == WORKERS


def test_the_merger_exits_when_the_main_process_is_killed():
    with SanicService(workers=1) as service:
        merger = the_merger(service)

        # Only the main process: its process group (workers, merger) stays for SanicService.stop.
        os.kill(service.process.pid, signal.SIGKILL)

        # Its stdin, a pipe from the main process, closes: it exits (a zombie until reaped).
        assert wait_until(lambda: _gone(merger))


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_without_a_main_process_the_process_starts_the_same_merger_for_itself(tmp_path):
    multiprocess_dir = tmp_path / "metrics"
    multiprocess_dir.mkdir()
    # Not SanicService: it waits for sanic_workers_live, which only a main process writes.
    service = SanicService.__new__(SanicService)
    service.port, service.scrape_headers = free_port(), {}
    service.process = subprocess.Popen(
        sanic_command(service.port, 1, options=["--single-process"]),
        env=service_environment(str(multiprocess_dir)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Exactly one of these requests is answered (the others find no listener yet).
        assert wait_until(lambda: _status_or_none(service, "/") == 200, timeout=30)
        assert mergers(service.process.pid) == []
        for _ in range(3):
            service.request("GET", "/")

        counts = request_counts(service.scrape())

        assert counts[HELLO] == 4
        assert len(mergers(service.process.pid)) == 1
    finally:
        os.killpg(service.process.pid, signal.SIGTERM)
        service.process.wait(timeout=15)


def _status_or_none(service, path: str) -> int | None:
    try:
        return service.request("GET", path)[0]
    except OSError:
        return None
