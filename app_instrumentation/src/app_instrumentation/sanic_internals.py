"""The private parts of Sanic this package relies on, and the only module touching them.

Sanic 25.x has no public way to watch its workers from the main process, to ask for a restart
from there, to find a worker's listening server and connections, or to hand a socket subclass to
spawned workers; the functions below do it through Sanic's internals (and one of multiprocessing's).
None of these is public API, so any Sanic release may change them: pyproject.toml bounds the
versions they were tested with, tests/test_dependency_versions.py fails outside that range, and
tests/test_sanic_internals.py fails naming the use a release changed. The rest of the package calls
the functions below, never the attributes.
"""

import asyncio
import contextlib
import gc
from multiprocessing import reduction

from sanic import Request
from sanic.http.constants import Stage
from sanic.server.protocols.http_protocol import HttpProtocol
from sanic.worker.constants import ProcessState
from sanic.worker.manager import WorkerManager
from sanic.worker.multiplexer import WorkerMultiplexer
from sanic.worker.process import WorkerProcess

_EXITED = frozenset((ProcessState.FAILED, ProcessState.COMPLETED))
# The monitor's messages, as Sanic's own WorkerMultiplexer.terminate and .restart write them.
_TERMINATE_EARLY = "__TERMINATE_EARLY__"
_TERMINATE = "__TERMINATE__"
_STARTUP_FIRST_SUFFIX = "::STARTUP_FIRST"


# The worker manager, in the main process.


def slot_of(worker_name: str) -> str:
    """Sanic's server number, from its name for a server worker: "Server-3" -> "3"."""
    return worker_name.rpartition("-")[2]


def server_processes(manager: WorkerManager) -> list[tuple[str, WorkerProcess]]:
    """(slot, process) of every server worker process the manager runs now."""
    # WorkerManager.transient: Sanic's server workers by name ("Server-<n>", SERVER_LABEL), each
    # with its processes. Snapshots: the manager's thread adds and removes workers meanwhile.
    return [
        (slot_of(worker.name), process)
        for worker in list(manager.transient.values())
        if worker.name.startswith(WorkerProcess.SERVER_LABEL)
        for process in list(worker.processes)
    ]


def configured_server_count(manager: WorkerManager) -> int:
    """How many server workers the manager is told to run (a scale changes it)."""
    # WorkerManager.num_server: what Sanic's own start-up ack check counts against.
    return manager.num_server


def is_acknowledged(process: WorkerProcess) -> bool:
    """Whether the worker said it serves, as the manager's monitor loop last copied it."""
    # WorkerProcess.state: copied from the shared worker state by WorkerManager._sync_states.
    return process.state is ProcessState.ACKED


def is_marked_exited(process: WorkerProcess) -> bool:
    """Whether the monitor loop marked the process FAILED or COMPLETED (it exited on its own)."""
    return process.state in _EXITED


def stop_before_startup(manager: WorkerManager) -> None:
    """Make the manager, still waiting for every worker's acknowledgement, give up at once.

    Without it, a worker that exited while starting is only noticed after Sanic's 30 s wait."""
    # "__TERMINATE_EARLY__": what WorkerManager.wait_for_ack ends its wait on.
    manager.monitor_publisher.send(_TERMINATE_EARLY)


def stop_service(manager: WorkerManager) -> None:
    """Make the manager stop every worker and end the service, as a worker's app.m.terminate()."""
    manager.monitor_publisher.send(_TERMINATE)


def restart_worker(manager: WorkerManager, process_name: str) -> None:
    """Ask the manager to restart one worker, stopping it first, as app.m.restart(name=) does.

    Sent through the monitor's pipe, so that the restart runs in the manager's own thread."""
    manager.monitor_publisher.send(process_name)


def restart_worker_startup_first(manager: WorkerManager, process_name: str) -> None:
    """Ask the manager to start a worker's replacement before stopping it (STARTUP_FIRST), as
    app.m.restart(name=, zero_downtime=True) does."""
    manager.monitor_publisher.send(f"{process_name}{_STARTUP_FIRST_SUFFIX}")


def shared_state_entries(manager: WorkerManager) -> dict:
    """A copy of Sanic's worker state, shared by the main process and every worker."""
    # WorkerManager.worker_state: the dict proxy every worker's multiplexer writes into.
    return manager.worker_state.copy()


def remove_shared_state_entry(manager: WorkerManager, key: str) -> None:
    manager.worker_state.pop(key, None)


def add_shared_state_entry(multiplexer: WorkerMultiplexer, key: str, value: dict) -> None:
    """Add an entry of its own to the worker state from a worker (app.m), in one IPC write.

    Sanic only offers a worker its own entry (app.m.state), which it rewrites whole (read, change,
    write back) from several processes, so two rewrites at once lose one (see recycling.py)."""
    # WorkerMultiplexer.state._state: the shared dict itself; Sanic reads every value as a dict.
    multiplexer.state._state[key] = value


def left_behind_process(process: WorkerProcess):
    """The previous process of a slot restarted STARTUP_FIRST that Sanic has not stopped yet.

    Sanic's thread waits for the new process's acknowledgement (THRESHOLD, 30 s), then stops the
    old one and forgets it; when the acknowledgement comes later it raises TimeoutError and never
    stops it."""
    # WorkerProcess._old_process: set by restart(STARTUP_FIRST), deleted by _wait_to_terminate.
    return getattr(process, "_old_process", None)


def stop_left_behind_process(process: WorkerProcess) -> None:
    """Stop the process Sanic left behind and forget it, as Sanic's thread does with one in time."""
    process._old_process.terminate()
    del process._old_process


# Connections, in a worker.


def listening_servers_and_connections() -> tuple[list, set]:
    """This process's listening servers, and the set of Sanic's open HTTP connections.

    Sanic keeps no reference to its server in worker mode, so they are found among the process's
    objects: a scan, done once, when the worker stops."""
    server_types = (asyncio.AbstractServer,)
    with contextlib.suppress(ImportError):
        import uvloop.loop  # only present, and only needed, where uvloop is

        server_types += (uvloop.loop.Server,)
    servers, connections = [], set()
    for candidate in gc.get_objects():
        # type(), not isinstance(): a proxy object may answer for __class__ with an error.
        kind = type(candidate)
        if issubclass(kind, server_types):
            servers.append(candidate)
        elif issubclass(kind, HttpProtocol) and not connections:
            # HttpProtocol.connections: every connection of a worker shares the one set Sanic
            # closes at the end.
            connections = candidate.connections
    return servers, connections


def connection_started(protocol: HttpProtocol) -> bool:
    """Whether Sanic's task for an accepted connection has started reading requests."""
    return protocol.http is not None


def connection_is_idle(protocol: HttpProtocol) -> bool:
    """Whether a started connection is between requests: what Sanic's close_if_idle closes."""
    # Http.stage: Sanic's own test in HttpProtocol.close_if_idle.
    return protocol.http.stage is Stage.IDLE


def connection_has_unparsed_bytes(protocol: HttpProtocol) -> bool:
    """Whether the connection received bytes that Sanic has not parsed into a request yet."""
    # HttpProtocol.recv_buffer: where Sanic keeps what it read from the socket until it parses it.
    return bool(protocol.recv_buffer)


def connection_last_active(protocol: HttpProtocol) -> float:
    """time.monotonic() of the connection's last activity (accepted, received or sent)."""
    # SanicProtocol._time: what Sanic's own keep-alive timeout counts from.
    return protocol._time


# Requests, in a worker.


def close_connection_after_response(request: Request) -> None:
    """Make the response to `request` say `Connection: close` and end its connection after it."""
    # Http.keep_alive: read by Sanic when it writes the response's headers.
    request.stream.keep_alive = False


def exception_that_ended(request: Request) -> BaseException | None:
    """The exception Sanic answered `request` with when it cancelled it (its response timeout)."""
    # Http.exception: set by HttpProtocol.check_timeouts before it cancels the request's task.
    return getattr(request.stream, "exception", None)


def is_websocket_route(route) -> bool:
    # Route.extra.websocket: set by Sanic's app.route for a route added with websocket=True.
    return route.extra.websocket


# Sockets, to spawned workers.


def pass_to_spawned_workers_as_socket(socket_class: type) -> None:
    """Let Sanic's spawned workers receive instances of a socket subclass.

    multiprocessing's reducer, which sends a listening socket to a spawned process, is registered
    for socket.socket only, not for its subclasses."""
    # multiprocessing.reduction._reduce_socket: that reducer, private to multiprocessing.
    reduction.register(socket_class, reduction._reduce_socket)
