"""Every private use of Sanic in sanic_internals.py, checked against the installed Sanic: a test per
use, named after it, that fails when a Sanic release changes it.

The worker manager's are checked on a real WorkerManager in this process, its monitor loop in a
thread and its processes real (spawned, as Sanic spawns workers); the worker-side ones in a real
`sanic` worker (tests/fence_app.py).
"""

import contextlib
import http.client
import json
import multiprocessing
import os
import signal
import socket
import threading
import time

import pytest
from fence_app import SLOW_SECONDS, WEBSOCKET_PATH
from sanic.exceptions import ServerKilled
from sanic.worker.manager import WorkerManager
from sanic.worker.multiplexer import WorkerMultiplexer

from app_instrumentation.departures import has_exited
from app_instrumentation.sanic_internals import (
    add_shared_state_entry,
    configured_server_count,
    is_acknowledged,
    is_marked_exited,
    left_behind_process,
    pass_to_spawned_workers_as_socket,
    remove_shared_state_entry,
    restart_worker,
    restart_worker_startup_first,
    server_processes,
    shared_state_entries,
    stop_before_startup,
    stop_left_behind_process,
    stop_service,
)
from sanic_testkit.service import SanicService

SERVERS = 2
TIMEOUT = 20.0
RESPONSE_TIMEOUT_SECONDS = 1


def wait_for(condition, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return result


@pytest.fixture
def manager():
    """A real WorkerManager of SERVERS server workers whose processes wait for a signal."""
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    manager = WorkerManager(
        SERVERS,
        signal.pause,
        {},
        multiprocessing.get_context("spawn"),
        multiprocessing.Pipe(),
        {},
    )
    # WorkerManager installs the main process's shutdown handlers: not this test process's.
    for number, handler in handlers.items():
        signal.signal(number, handler)
    # Sanic stops a worker with SIGINT, and a spawned worker keeps an ignored SIGINT ignored, as
    # pytest started in the background of a shell without job control has it (the stop test's
    # workers outlived 60 s in `make test` run so, 2026-12-07, and exited at once in a terminal).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield manager
    signal.signal(signal.SIGINT, handlers[signal.SIGINT])
    for child in multiprocessing.active_children():
        child.kill()
        child.join()


def acknowledge(manager: WorkerManager, process_name: str, monkeypatch) -> None:
    """What a worker's app.m does once it serves: Sanic's multiplexer writes its ack."""
    monkeypatch.setenv("SANIC_WORKER_NAME", process_name)
    WorkerMultiplexer(manager.monitor_publisher, manager.worker_state).ack()


def restart_first_worker(manager: WorkerManager, restart) -> tuple:
    """(process, its old pid) once the monitor restarted slot 0's worker on `restart`'s message."""
    [(_, process), _] = sorted(server_processes(manager))
    old_pid = process.pid
    restart(manager, process.name)
    # The restart's last step counts the start.
    wait_for(
        lambda: shared_state_entries(manager)[process.name].get("starts") == 2,
        f"the monitor restarts {process.name} on a {restart.__name__} message",
    )
    assert process.pid != old_pid
    return process, old_pid


@pytest.fixture
def monitored(manager, monkeypatch):
    """(manager, monitor thread): its processes started and acknowledged, its monitor loop run."""
    manager.start()
    for _, process in server_processes(manager):
        acknowledge(manager, process.name, monkeypatch)
    monitor = threading.Thread(target=manager.monitor, name="sanic-monitor", daemon=True)
    monitor.start()
    wait_for(
        lambda: all(is_acknowledged(process) for _, process in server_processes(manager)),
        "WorkerProcess.state is ProcessState.ACKED once the monitor synced the acks",
    )
    yield manager, monitor
    if monitor.is_alive():
        stop_service(manager)
        monitor.join(TIMEOUT)


def test_server_processes_are_found_in_manager_transient_by_server_label(manager):
    slotted = server_processes(manager)

    assert sorted(slot for slot, _ in slotted) == ["0", "1"], (
        "WorkerManager.transient no longer holds Server-<n> workers (WorkerProcess.SERVER_LABEL)"
    )
    names = sorted(process.name for _, process in slotted)
    assert names == ["Sanic-Server-0-0", "Sanic-Server-1-0"]


def test_configured_server_count_is_manager_num_server(manager):
    assert configured_server_count(manager) == SERVERS, "WorkerManager.num_server changed"


def test_a_killed_worker_is_marked_exited_by_the_monitor_loop(monitored):
    manager, _ = monitored
    [(_, killed), (_, alive)] = sorted(server_processes(manager))
    os.kill(killed.pid, signal.SIGKILL)

    wait_for(
        lambda: is_marked_exited(killed),
        "WorkerManager._sync_states marks a killed process ProcessState.FAILED",
    )
    assert not is_marked_exited(alive)
    assert is_acknowledged(alive)


def test_stop_service_message_ends_the_monitor_loop_and_every_worker(monitored):
    manager, monitor = monitored
    pids = [process.pid for _, process in server_processes(manager)]

    stop_service(manager)

    monitor.join(TIMEOUT)
    assert not monitor.is_alive(), "WorkerManager.monitor no longer returns on '__TERMINATE__'"
    wait_for(
        lambda: all(has_exited(pid) for pid in pids),
        "the monitor's '__TERMINATE__' message stops every worker",
    )


def test_stop_before_startup_message_ends_the_wait_for_acknowledgements_at_once(manager):
    started = time.monotonic()
    stop_before_startup(manager)

    with pytest.raises(ServerKilled):
        manager.wait_for_ack()
    # Sanic's own wait is WorkerProcess.THRESHOLD tenths of a second: 30 s.
    assert time.monotonic() - started < manager.THRESHOLD / 10 / 3, (
        "WorkerManager.wait_for_ack no longer ends on '__TERMINATE_EARLY__'"
    )


def test_restart_messages_are_what_sanics_own_multiplexer_sends(manager, monkeypatch):
    """restart_worker and restart_worker_startup_first write the monitor's message format."""
    name = "Sanic-Server-0-0"
    monkeypatch.setenv("SANIC_WORKER_NAME", name)
    multiplexer = WorkerMultiplexer(manager.monitor_publisher, manager.worker_state)
    receive = manager.monitor_subscriber.recv

    multiplexer.restart(name=name, zero_downtime=True)
    restart_worker_startup_first(manager, name)
    assert receive() == receive(), "app.m.restart(zero_downtime=True) changed its message"
    multiplexer.restart(name=name)
    restart_worker(manager, name)
    # Sanic's monitor splits a message at ':' and takes the names before the first one.
    assert receive().partition(":")[0] == receive(), "app.m.restart(name=) changed its message"


def test_restart_worker_message_replaces_the_process_stopping_it_first(monitored):
    manager, _ = monitored

    process, old_pid = restart_first_worker(manager, restart_worker)

    wait_for(lambda: has_exited(old_pid), "a SHUTDOWN_FIRST restart stops the old process")
    assert left_behind_process(process) is None


def test_startup_first_restart_keeps_old_process_until_the_new_one_is_acknowledged(
    monitored, monkeypatch
):
    manager, _ = monitored

    process, old_pid = restart_first_worker(manager, restart_worker_startup_first)

    left_behind = left_behind_process(process)
    assert left_behind is not None and left_behind.pid == old_pid, (
        "WorkerProcess._old_process no longer holds the old process of a STARTUP_FIRST restart"
    )
    assert not has_exited(old_pid)
    acknowledge(manager, process.name, monkeypatch)
    wait_for(lambda: has_exited(old_pid), "Sanic stops the old process once the new one acks")
    wait_for(
        lambda: left_behind_process(process) is None,
        "Sanic deletes WorkerProcess._old_process once it stopped the old process",
    )


def test_a_left_behind_process_is_stopped_and_forgotten(monitored, monkeypatch):
    manager, _ = monitored
    [(_, process), _] = sorted(server_processes(manager))
    # Sanic's thread waits THRESHOLD tenths of a second for the acknowledgement, then gives up.
    monkeypatch.setattr(process, "THRESHOLD", 2, raising=False)
    gave_up = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: gave_up.append(hook.exc_type))

    process, old_pid = restart_first_worker(manager, restart_worker_startup_first)

    wait_for(lambda: gave_up, "Sanic's STARTUP_FIRST thread gives up on a late acknowledgement")
    assert gave_up == [TimeoutError]
    left_behind = left_behind_process(process)
    assert left_behind is not None and left_behind.pid == old_pid, (
        "WorkerProcess._old_process is no longer kept when Sanic gives up on the new process"
    )
    assert not has_exited(old_pid)
    stop_left_behind_process(process)
    wait_for(lambda: has_exited(old_pid), "the left-behind process is stopped")
    assert left_behind_process(process) is None


def test_a_workers_own_shared_state_entry_reaches_the_manager_and_breaks_nothing(
    manager, monkeypatch
):
    for _, process in server_processes(manager):
        acknowledge(manager, process.name, monkeypatch)
    multiplexer = WorkerMultiplexer(manager.monitor_publisher, manager.worker_state)

    add_shared_state_entry(multiplexer, "app_instrumentation_test:1", {"pid": 1})

    assert shared_state_entries(manager)["app_instrumentation_test:1"] == {"pid": 1}, (
        "WorkerMultiplexer.state._state is no longer the manager's worker_state"
    )
    # Sanic reads every entry of the shared state; a foreign one must not stop its start.
    manager.wait_for_ack()
    remove_shared_state_entry(manager, "app_instrumentation_test:1")
    assert "app_instrumentation_test:1" not in shared_state_entries(manager)


class _ListenerSubclass(socket.socket):
    pass


def _accept_once(listener: socket.socket) -> None:
    connection, _ = listener.accept()
    with connection:
        connection.sendall(b"accepted by the spawned process")


def test_a_socket_subclass_reaches_a_spawned_process_through_the_socket_reducer():
    """multiprocessing.reduction._reduce_socket, registered for a subclass, passes it on."""
    pass_to_spawned_workers_as_socket(_ListenerSubclass)
    with _ListenerSubclass() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        child = multiprocessing.get_context("spawn").Process(target=_accept_once, args=(listener,))
        child.start()
        try:
            with socket.create_connection(listener.getsockname(), timeout=TIMEOUT) as client:
                client.settimeout(TIMEOUT)
                assert client.recv(100) == b"accepted by the spawned process"
        finally:
            child.join(TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                child.kill()
    assert child.exitcode == 0


@pytest.fixture(scope="module")
def worker():
    with SanicService(
        workers=1,
        INSTRUMENTED_APP="fence_app:create_app",
        SANIC_RESPONSE_TIMEOUT=str(RESPONSE_TIMEOUT_SECONDS),
    ) as service:
        yield service


def read_response(stream) -> tuple[dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length, read from a socket's file."""
    status_line = stream.readline()
    assert status_line.startswith(b"HTTP/1.1 200"), status_line
    headers = {}
    while (line := stream.readline().decode().strip()) != "":
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    return headers, stream.read(int(headers["content-length"]))


def test_gc_scan_finds_the_listening_server_and_sanics_connections(worker):
    request = b"GET /%s HTTP/1.1\r\nHost: fence\r\n\r\n"
    before_peer = time.monotonic()
    with (
        socket.create_connection(("127.0.0.1", worker.port), timeout=TIMEOUT) as peer,
        socket.create_connection(("127.0.0.1", worker.port), timeout=TIMEOUT) as this,
    ):
        peer.sendall(request % b"")
        read_response(peer.makefile("rb"))
        # Pipelined: the second request waits in Sanic's buffer while the first is handled.
        facts_path = b"fence/connections?peer=%d" % peer.getsockname()[1]
        this.sendall(request % facts_path + request % b"")
        _, body = read_response(this.makefile("rb"))
        answered = time.monotonic()
    facts = json.loads(body)

    assert facts["servers_serving"] == [True], "gc scan: no one asyncio server listening"
    assert facts["this_connection_listed"], "HttpProtocol.connections: not every connection"
    assert facts["this"] == {
        "started": True,  # HttpProtocol.http
        "idle": False,  # Http.stage is Stage.HANDLER
        "unparsed_bytes": True,  # HttpProtocol.recv_buffer holds the pipelined request
        "last_active": facts["this"]["last_active"],
    }
    assert facts["peer"] == {
        "started": True,
        "idle": True,  # Http.stage is Stage.IDLE between requests
        "unparsed_bytes": False,
        "last_active": facts["peer"]["last_active"],
    }
    # SanicProtocol._time: the connection's last activity, on the worker's time.monotonic() clock.
    # Compared as ages, not with this process's readings: the worker's and this process's readings
    # of the one clock came out 3 ms apart, the wrong way round, on a loaded CI machine (2026-12).
    peer_age = facts["now"] - facts["peer"]["last_active"]
    assert 0 < peer_age <= answered - before_peer
    assert facts["peer"]["last_active"] <= facts["this"]["last_active"] <= facts["now"]


def test_close_connection_after_response_answers_connection_close(worker):
    connection = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=TIMEOUT)
    try:
        connection.request("GET", "/fence/close")
        response = connection.getresponse()
        assert response.read() == b"closing"
        # Http.keep_alive = False: Sanic writes this header and closes the connection after it.
        assert response.getheader("connection") == "close"
        assert response.will_close
    finally:
        connection.close()


def test_exception_that_ended_is_what_sanic_answered_a_cancelled_request_with(worker):
    status, _, _ = worker.request("GET", "/fence/slow", timeout=SLOW_SECONDS + TIMEOUT)
    assert status == 503

    def cancelled_with():
        return json.loads(worker.request("GET", "/fence/cancelled")[2])

    # Http.exception: set by HttpProtocol.check_timeouts before it cancels the handler.
    assert wait_for(cancelled_with, "the handler's cancellation") == ["ServiceUnavailable"]


def test_is_websocket_route_reads_route_extra_websocket(worker):
    _, _, body = worker.request("GET", "/fence/routes")
    websocket_by_path = json.loads(body)

    assert websocket_by_path[WEBSOCKET_PATH] is True, "Route.extra.websocket no longer set"
    assert websocket_by_path["/fence/routes"] is False
