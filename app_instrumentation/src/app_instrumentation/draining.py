"""A stopping worker stops accepting connections before Sanic closes the idle ones.

Sanic 25.12 stops a worker in this order: its `before_server_stop` listeners run while the event
loop still accepts connections; then, in one go, it closes its listening server and closes every
connection that has no request in progress. A connection accepted in the loop's last turns, whose
request is already in the kernel's buffer but not read yet, counts as idle there: it is closed
unanswered (the client sees RemoteDisconnected or a reset). Under a recycle or a restart under
load, that is a few requests in every thousand stops.

`stop_accepting_and_read_pending` closes the worker's own listening server first (the listening
socket itself is shared by every worker, or held by systemd: the connections still queued on it go
to the other workers, or wait for the next start), then lets the loop read the requests that
already reached the worker's connections, so that Sanic's own close then finds them in progress
and answers them. Sanic keeps no reference to its server in worker mode: sanic_internals.py finds
the server and the connections among the process's objects, once, when the worker stops.
"""

import array
import asyncio
import fcntl
import termios

from sanic.log import error_logger
from sanic.server.protocols.http_protocol import HttpProtocol

from app_instrumentation.sanic_internals import (
    connection_has_unparsed_bytes,
    connection_is_idle,
    connection_last_active,
    connection_started,
    listening_servers_and_connections,
)

# Requests already in the kernel's buffer are read within a turn or two of the loop.
SETTLE_SECONDS = 0.05
# A client sends its request right after its connection is accepted, within a millisecond on a
# host that is not overloaded; one that has not sent it this long after is not counted on.
MAX_PENDING_SECONDS = 1.0
_POLL_SECONDS = 0.005


def _request_on_its_way(protocol: HttpProtocol, draining_since: float) -> bool:
    """Whether an idle connection has a request the worker has not read yet: bytes received, or
    accepted during the drain and not used yet (its client sends the request right after)."""
    transport = protocol.transport
    if transport is None or transport.is_closing():
        return False
    if not connection_started(protocol):
        return True  # accepted, and Sanic's connection task has not even started
    if not connection_is_idle(protocol):
        return False  # in progress: Sanic waits for it anyway
    if connection_has_unparsed_bytes(protocol):
        return True
    # A connection that answered during the drain was closed after it (`Connection: close`), so
    # a later one that is idle is new.
    if connection_last_active(protocol) >= draining_since:
        return True
    socket = transport.get_extra_info("socket")
    if socket is None:
        return False
    unread = array.array("i", [0])
    try:
        fcntl.ioctl(socket.fileno(), termios.FIONREAD, unread, True)
    except OSError:  # closed meanwhile
        return False
    return unread[0] > 0


async def stop_accepting_and_read_pending(draining_since: float) -> None:
    """Close this worker's listening servers, then wait until no idle connection has a request on
    its way (at least SETTLE_SECONDS, at most MAX_PENDING_SECONDS). `draining_since`: the
    time.monotonic() at which the worker's answers began to close their connections."""
    servers, connections = listening_servers_and_connections()
    if not servers:
        error_logger.warning("stopping worker: no listening server found; Sanic closes it itself")
        return
    for server in servers:
        server.close()
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + MAX_PENDING_SECONDS
    await asyncio.sleep(SETTLE_SECONDS)
    while loop.time() < give_up_at and any(
        _request_on_its_way(connection, draining_since) for connection in list(connections)
    ):
        await asyncio.sleep(_POLL_SECONDS)
