"""`python -m app_instrumentation.serve TARGET --workers N [--host H --port P] [--backlog B]
[--tls-cert CERT --tls-key KEY]`: run a Sanic app with N workers from the listening socket systemd
holds, so the port stays open across restarts; with a certificate and its key it serves HTTPS.

With systemd socket activation (the sd_listen_fds protocol: LISTEN_PID, LISTEN_FDS, fd 3) the
workers accept from the inherited socket, and connections that arrive while the service restarts
wait in its backlog; without it the launcher binds --host and --port itself, like `sanic` does.
TARGET is `module:factory` or `module:app`, loaded by factory.load_app in the main process and in
every worker: app_instrumentation.factory:create_app (wrapper mode, reads INSTRUMENTED_APP) or the
app's own factory that calls instrument(app) (explicit mode).
Pitfall: Sanic.serve ends by shutdown()ing its sockets, which would stop systemd's copy listening.
"""

import argparse
import functools
import os
import socket
import stat

from sanic import Sanic
from sanic.worker.loader import AppLoader

from app_instrumentation.factory import load_app
from app_instrumentation.sanic_internals import pass_to_spawned_workers_as_socket

SD_LISTEN_FDS_START = 3
DEFAULT_HOST = "127.0.0.1"
# Sanic's own default; the unit passes its socket's Backlog= instead.
DEFAULT_BACKLOG = 100
TARGET_SETTING = "TARGET"
_SOCKET_FIX = "start the service through its .socket unit, with one ListenStream=addr:port"


class InheritedListener(socket.socket):
    """The listening socket systemd passed in; systemd keeps it listening after this process."""

    def shutdown(self, how: int) -> None:
        # On Linux shutdown() of a listener stops it for every holder, systemd's copy included.
        return None


pass_to_spawned_workers_as_socket(InheritedListener)


def _error(problem: str, fix: str) -> SystemExit:
    return SystemExit(f"app_instrumentation: error: {problem}; fix: {fix}")


def take_inherited_listener() -> InheritedListener | None:
    """The socket systemd passed to this process, if any; unsets the variables, as sd_listen_fds."""
    listen_pid = os.environ.pop("LISTEN_PID", None)
    listen_fds = os.environ.pop("LISTEN_FDS", None)
    os.environ.pop("LISTEN_FDNAMES", None)
    if listen_fds is None or listen_pid != str(os.getpid()):
        # Not for this process (sd_listen_fds ignores them too): e.g. left by a parent.
        return None
    if listen_fds != "1":
        raise _error(
            f"LISTEN_FDS={listen_fds}: systemd passed {listen_fds} sockets, expected exactly 1",
            "give the .socket unit exactly one ListenStream=",
        )
    fd = SD_LISTEN_FDS_START
    try:
        mode = os.fstat(fd).st_mode
    except OSError as error:
        raise _error(
            f"LISTEN_FDS=1 but fd {fd} is not open ({error.strerror})", _SOCKET_FIX
        ) from None
    if not stat.S_ISSOCK(mode):
        raise _error(f"LISTEN_FDS=1 but fd {fd} is not a socket", _SOCKET_FIX)
    listener = InheritedListener(fileno=fd)
    if listener.type != socket.SOCK_STREAM:
        raise _error(f"fd {fd} is a {listener.type.name} socket, not SOCK_STREAM", _SOCKET_FIX)
    if not listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise _error(f"fd {fd} is a stream socket that is not listening", _SOCKET_FIX)
    return listener


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app_instrumentation.serve",
        description="Serve a Sanic app with N workers from a systemd-held socket or --host/--port.",
    )
    parser.add_argument("target", metavar="TARGET", help="module:factory or module:app")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--host", help=f"address to bind without socket activation: {DEFAULT_HOST}")
    parser.add_argument("--port", type=int, help="port to bind without socket activation")
    # Every worker calls listen() again with this: it overrides the .socket unit's Backlog=.
    parser.add_argument(
        "--backlog", type=int, default=DEFAULT_BACKLOG, help="connections the socket queues"
    )
    parser.add_argument("--tls-cert", help="PEM certificate (chain) to serve HTTPS with")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    arguments = parser.parse_args(argv)
    if arguments.workers < 1:
        parser.error("--workers must be at least 1")
    if bool(arguments.tls_cert) != bool(arguments.tls_key):
        parser.error("--tls-cert and --tls-key go together: give both or neither")
    return arguments


def tls_settings(arguments: argparse.Namespace) -> dict | None:
    """Sanic's `ssl=` for HTTPS; every worker builds its own context from the two paths."""
    if not arguments.tls_cert:
        return None
    return {"cert": arguments.tls_cert, "key": arguments.tls_key}


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    # Read (and unset) before the app loads, so nothing it starts inherits the variables.
    listener = take_inherited_listener()
    if listener is not None and (arguments.host or arguments.port):
        raise _error(
            "--host/--port given, but systemd passed a listening socket",
            "drop --host and --port: the .socket unit's ListenStream= owns the address",
        )
    if listener is None and arguments.port is None:
        raise _error(
            "no socket from systemd (LISTEN_FDS for this pid) and no --port",
            "pass --port (and --host), or start the service through its .socket unit",
        )
    load_target = functools.partial(load_app, arguments.target, TARGET_SETTING)
    app = load_target()
    ssl = tls_settings(arguments)
    if listener is not None:
        app.prepare(sock=listener, workers=arguments.workers, backlog=arguments.backlog, ssl=ssl)
    else:
        app.prepare(
            host=arguments.host or DEFAULT_HOST,
            port=arguments.port,
            workers=arguments.workers,
            backlog=arguments.backlog,
            ssl=ssl,
        )
    Sanic.serve(primary=app, app_loader=AppLoader(factory=load_target))


if __name__ == "__main__":
    main()
