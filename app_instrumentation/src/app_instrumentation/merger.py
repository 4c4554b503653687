"""The service's one merger: `python -m app_instrumentation.merger DIR SOCKET`.

A scrape merges every worker's files, synchronous CPU that grows with the number of files. Run in
a serving worker (even in a thread) it holds that worker's GIL and its requests wait, so the merge
runs in this separate process, one per service: the Sanic main process (which serves no requests)
starts it and replaces it when it dies (`exposition.Merger`), and every worker sends it each
scrape's Accept and Accept-Encoding over a Unix socket in a private directory. One process for the
whole service keeps one per-file cache (collector.py) and adds one process's memory, whatever the
worker count. It imports no Sanic and no asyncio: it is one more process per service, so its
memory is what it imports.

Protocol, one exchange per connection: the client sends one JSON line
(`{"accept": ..., "accept_encoding": ...}`); the merger answers one JSON line (`{"length",
"content_type", "headers"}` or `{"error"}`) and then `length` bytes of body. Connections are
served one at a time: a second scraper waits in the socket's backlog, and each gets a merge of the
directory as it is then. Only the service user reaches the socket: its directory is 0700, and
the merger also refuses a peer of another uid (SO_PEERCRED). It writes no metrics, and exits when
the process that started it closes its stdin (exits or dies).
"""

import contextlib
import json
import logging
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import types

# A peer that connects and sends nothing must not hold the one merge loop.
REQUEST_READ_TIMEOUT_SECONDS = 5.0
# Scrapes of every worker may arrive together; socketserver's default queue is 5.
BACKLOG = 128
_PEER_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid
# What prometheus_client.exposition imports only to serve HTTP, push to a gateway or use TLS, none
# of which the merger does: 4.5 of its 15 MB. Checked: tests/test_merger.py compares its answers
# with render() in a normal process.
_HTTP_STACK = ("http.server", "ssl", "urllib.error", "urllib.request", "wsgiref.simple_server")

logger = logging.getLogger(__name__)


def peer_uid(connection: socket.socket) -> int:
    credentials = connection.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER_CREDENTIALS.size
    )
    return _PEER_CREDENTIALS.unpack(credentials)[1]


class _Placeholders(types.ModuleType):
    """A module whose every name is a new empty class: enough for `from m import C` and for
    `class D(C)` at import time; nothing in the merger calls them."""

    def __getattr__(self, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        placeholder = type(name, (), {"__module__": self.__name__})
        setattr(self, name, placeholder)
        return placeholder


def load_render():
    """render.render, with prometheus_client imported without its HTTP stack (_HTTP_STACK).
    Only for the merger's own process: the placeholders replace those modules for good."""
    for name in _HTTP_STACK:
        sys.modules.setdefault(name, _Placeholders(name))
    from app_instrumentation.render import render  # after the placeholders are in place

    return render


class _MergeServer(socketserver.UnixStreamServer):
    request_queue_size = BACKLOG

    def __init__(self, socket_path: str, multiprocess_dir: str, render) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.render = render
        super().__init__(socket_path, _Exchange)

    def verify_request(self, request, client_address) -> bool:
        uid = peer_uid(request)
        if uid != os.getuid():
            logger.error("refused a metrics merge request from uid %s", uid)
            return False
        return True


class _Exchange(socketserver.StreamRequestHandler):
    timeout = REQUEST_READ_TIMEOUT_SECONDS

    def handle(self) -> None:
        try:
            request = json.loads(self.rfile.readline())
        except (OSError, ValueError):
            return  # the peer left or sent nothing usable: no scrape waits for this
        try:
            exposition = self.server.render(
                self.server.multiprocess_dir, request["accept"], request["accept_encoding"]
            )
        except Exception as error:  # answered as an error: this scrape fails, the merger stays
            logger.exception("metrics merge failed")
            answer = json.dumps({"error": repr(error)}).encode() + b"\n"
        else:
            head = {
                "length": len(exposition.body),
                "content_type": exposition.content_type,
                "headers": exposition.headers,
            }
            answer = json.dumps(head).encode() + b"\n" + exposition.body
        # OSError: the scrape gave up (its timeout, its client left) while it waited.
        with contextlib.suppress(OSError):
            self.wfile.write(answer)


def _exit_when_stdin_closes() -> None:
    """Follow the starting process: when it exits or dies, its end of the pipe closes."""
    while sys.stdin.buffer.read(4096):
        continue
    os._exit(0)


def serve(multiprocess_dir: str, socket_path: str) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the starting process decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    # A merger that died leaves its socket file; its replacement takes the same path.
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    server = _MergeServer(socket_path, multiprocess_dir, load_render())
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
