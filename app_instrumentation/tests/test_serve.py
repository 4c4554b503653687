"""`python -m app_instrumentation.serve`, the launcher a socket-activated systemd unit runs.

The tests play systemd: they create and hold the listening socket and pass it as fd 3 with
LISTEN_FDS=1 and LISTEN_PID set to the launcher's pid.
"""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from sanic_testkit.service import (
    INSTRUMENTED_FACTORY,
    SanicService,
    free_port,
    launcher_command,
    request_counts,
    sanic_command,
    service_environment,
    socket_activated,
)

WORKERS = 2
EXPLICIT_APP = "pid_app:create_instrumented_app"
WRAPPED_APP = "pid_app:create_app"
MODES = {
    "explicit": {"factory": EXPLICIT_APP},
    "wrapper": {"factory": INSTRUMENTED_FACTORY, "INSTRUMENTED_APP": WRAPPED_APP},
}
SLOW_SECONDS = 3
QUEUED_CONNECTIONS = 6
TIMEOUT = 60
IN_FLIGHT = ("http_server_active_requests", frozenset())


@pytest.fixture
def held_socket():
    """The listening socket systemd's .socket unit would hold."""
    with socket.create_server(("127.0.0.1", 0), backlog=128) as listener:
        yield listener


def get(port: int, path: str, timeout: float = TIMEOUT) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def pids_answering(port: int, expected: set[int], timeout: float = 20) -> Counter:
    """GET /pid on new connections until every expected pid has answered (or timeout)."""
    answers: Counter = Counter()
    deadline = time.monotonic() + timeout
    while set(answers) != expected and time.monotonic() < deadline:
        status, body = get(port, "/pid")
        assert status == 200
        answers[int(body)] += 1
    return answers


def is_listening(listener: socket.socket) -> bool:
    return bool(listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


def holds(pid: int, listener: socket.socket) -> bool:
    target = f"socket:[{os.fstat(listener.fileno()).st_ino}]"
    try:
        return any(os.readlink(fd.path) == target for fd in os.scandir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return False


def wait_until_released(pids: list[int], listener: socket.socket, timeout: float = 20) -> None:
    """Until none of `pids` holds `listener`: they can accept no more connections from it."""
    deadline = time.monotonic() + timeout
    while any(holds(pid, listener) for pid in pids):
        assert time.monotonic() < deadline, f"{pids} still hold the listener"
        time.sleep(0.01)


def wait_for_in_flight(service: SanicService, requests: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while service.scrape()[IN_FLIGHT] != requests:
        assert time.monotonic() < deadline, f"never {requests} requests in flight"
        time.sleep(0.05)


def run_launcher(
    command: list[str], multiprocess_dir: str | None = None, stdin=None, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        env=service_environment(multiprocess_dir, **env),
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )


@pytest.mark.parametrize("mode", MODES)
def test_socket_activated_workers_all_serve_from_the_held_socket_and_are_counted(held_socket, mode):
    with SanicService(WORKERS, launcher=True, listen_socket=held_socket, **MODES[mode]) as service:
        workers = set(service.worker_pids().values())
        before = request_counts(service.scrape())

        answers = pids_answering(service.port, workers)

        assert len(workers) == WORKERS
        assert all(holds(pid, held_socket) for pid in workers)
        assert set(answers) == workers
        after = request_counts(service.scrape())
        served = after[("/pid", "GET", "200")] - before.get(("/pid", "GET", "200"), 0)
        assert served == sum(answers.values())


class ClientRequest(threading.Thread):
    """Connects and sends GET `path` now; records the outcome and how long the answer took."""

    def __init__(self, port: int, path: str = "/pid") -> None:
        super().__init__()
        self.port = port
        self.path = path
        self.outcome: int | str | None = None
        self.waited = 0.0
        self.start()

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.outcome = get(self.port, self.path)[0]
        except ConnectionRefusedError:
            self.outcome = "refused"
        except (OSError, http.client.HTTPException) as error:
            self.outcome = f"failed: {error!r}"
        self.waited = time.monotonic() - started


def test_restart_on_the_held_socket_refuses_and_fails_no_request(held_socket):
    port = held_socket.getsockname()[1]
    # Wrapper mode: SanicService then waits until the main process counts every worker live.
    first = SanicService(WORKERS, launcher=True, listen_socket=held_socket, **MODES["wrapper"])
    with first:
        workers = list(first.worker_pids().values())
        assert all(holds(pid, held_socket) for pid in workers)
        slow = ClientRequest(port, f"/slow?seconds={SLOW_SECONDS}")
        wait_for_in_flight(first, 1)

        # The main process only, as KillMode=mixed does: a worker signalled by systemd too gets a
        # second signal from Sanic's manager, which kills it or cuts its drain short.
        os.kill(first.process.pid, signal.SIGTERM)
        during_stop = [ClientRequest(port) for _ in range(QUEUED_CONNECTIONS // 2)]
        wait_until_released(workers, held_socket)
        assert slow.outcome is None
        after_workers_stopped = [ClientRequest(port) for _ in range(QUEUED_CONNECTIONS // 2)]
        slow.join(timeout=TIMEOUT)
        assert first.process.wait(timeout=TIMEOUT) == 0, first.log()
        after_exit = [ClientRequest(port) for _ in range(QUEUED_CONNECTIONS // 2)]
        time.sleep(0.5)
        # Sanic.serve shutdown()s its sockets as it exits: the guard keeps the held one listening.
        outcomes_so_far = [r.outcome for r in during_stop + after_workers_stopped + after_exit]
        assert is_listening(held_socket), f"launcher #1 stopped it; clients saw {outcomes_so_far}"

    queued = during_stop + after_workers_stopped + after_exit
    # Those opened once no worker of launcher #1 accepted any more can only wait in the backlog.
    waiting_before_restart = [r.outcome for r in after_workers_stopped + after_exit]
    with SanicService(WORKERS, launcher=True, listen_socket=held_socket, **MODES["wrapper"]):
        for request in queued:
            request.join(timeout=TIMEOUT)

    outcomes = Counter(request.outcome for request in queued)
    waits = ", ".join(f"{r.waited:.2f}" for r in queued)
    print(f"\noutcomes {dict(outcomes)}; seconds to an answer, in order opened: {waits}")
    assert slow.outcome == 200
    assert "refused" not in outcomes
    assert waiting_before_restart == [None] * len(waiting_before_restart)
    # Not during_stop: a worker that accepts one as it stops can close it unread (Sanic's
    # close_if_idle treats a request not yet read as idle), so only "not refused" holds for them.
    answered = [r.outcome for r in after_workers_stopped + after_exit]
    assert answered == [200] * len(answered)


def test_idle_keep_alive_connection_is_closed_with_eof_at_sigterm(held_socket):
    with SanicService(
        WORKERS, launcher=True, listen_socket=held_socket, **MODES["wrapper"]
    ) as service:
        client = socket.create_connection(("127.0.0.1", service.port), timeout=TIMEOUT)
        with client:
            client.sendall(b"GET /pid HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first_response = client.recv(65536)

            os.kill(service.process.pid, signal.SIGTERM)
            after_sigterm = client.recv(65536)

        assert first_response.startswith(b"HTTP/1.1 200")
        assert after_sigterm == b""
        assert service.process.wait(timeout=TIMEOUT) == 0, service.log()


def test_busy_keep_alive_connection_is_told_to_close_after_its_answer_at_sigterm(held_socket):
    """Sanic alone keeps serving a busy keep-alive connection until its graceful timeout, then
    aborts it mid-request; the stopping worker's answers say `Connection: close` instead."""
    with SanicService(
        WORKERS, launcher=True, listen_socket=held_socket, **MODES["wrapper"]
    ) as service:
        connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=TIMEOUT)
        connection.request("GET", "/slow?seconds=1")
        wait_for_in_flight(service, 1)
        os.kill(service.process.pid, signal.SIGTERM)
        response = connection.getresponse()
        response.read()
        assert (response.status, response.getheader("connection")) == (200, "close")
        assert connection.sock is None  # http.client closed it, as the answer asked
        assert service.process.wait(timeout=TIMEOUT) == 0, service.log()


def test_listen_variables_of_another_pid_are_ignored_and_the_port_is_bound():
    with SanicService(
        WORKERS, launcher=True, factory=EXPLICIT_APP, LISTEN_PID="1", LISTEN_FDS="1"
    ) as service:
        workers = service.worker_pids()
        answers = pids_answering(service.port, set(workers.values()))

        assert len(answers) == WORKERS
        for pid in workers.values():
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            assert not [entry for entry in environment if entry.startswith(b"LISTEN_")]


def test_without_socket_activation_the_launcher_serves_on_the_given_port():
    with SanicService(WORKERS, launcher=True, factory=EXPLICIT_APP) as service:
        assert get(service.port, "/")[0] == 200
        assert len(pids_answering(service.port, set(service.worker_pids().values()))) == WORKERS


def assert_one_error_line(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("app_instrumentation: error: ")
    for text in expected:
        assert text in lines[0]


def test_two_inherited_sockets_are_refused_with_a_clear_error(held_socket):
    command = launcher_command(EXPLICIT_APP, WORKERS, port=None)

    result = run_launcher(socket_activated(command, listen_fds=2), stdin=held_socket.fileno())

    assert_one_error_line(result, "LISTEN_FDS=2", "expected exactly 1")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("unlistening", "not listening"),
        ("udp", "SOCK_DGRAM socket, not SOCK_STREAM"),
        ("file", "fd 3 is not a socket"),
    ],
)
def test_fd_3_that_is_not_a_listening_stream_socket_is_refused(kind, message, tmp_path):
    with contextlib.ExitStack() as stack:
        if kind == "file":
            passed = stack.enter_context(open(tmp_path / "not-a-socket", "w"))
        else:
            kind_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
            passed = stack.enter_context(socket.socket(type=kind_type))
        command = launcher_command(EXPLICIT_APP, WORKERS, port=None)

        result = run_launcher(socket_activated(command), stdin=passed.fileno())

    assert_one_error_line(result, message)


def test_host_and_port_with_an_inherited_socket_are_refused(held_socket):
    command = launcher_command(EXPLICIT_APP, WORKERS, port=free_port())

    result = run_launcher(socket_activated(command), stdin=held_socket.fileno())

    assert_one_error_line(result, "--host/--port given", "ListenStream=")


@pytest.mark.parametrize("mode", MODES)
def test_missing_multiprocess_dir_fails_as_through_the_sanic_cli(mode):
    target = MODES[mode]["factory"]
    env = {"INSTRUMENTED_APP": WRAPPED_APP}

    through_launcher = run_launcher(launcher_command(target, WORKERS, free_port()), **env)
    through_sanic = run_launcher(sanic_command(free_port(), WORKERS, target), **env)

    assert_one_error_line(through_launcher, "PROMETHEUS_MULTIPROC_DIR is not set")
    assert through_launcher.stderr == through_sanic.stderr
    assert through_launcher.stdout == ""


def test_bad_target_names_the_launcher_argument(tmp_path):
    command = launcher_command("nowhere:create_app", WORKERS, free_port())

    result = run_launcher(command, multiprocess_dir=str(tmp_path))

    assert_one_error_line(result, "TARGET=nowhere:create_app: module 'nowhere' not found")
