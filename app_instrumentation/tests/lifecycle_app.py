"""The demo app plus GET /pid (the serving worker's pid) and GET /restart-me, which restarts the
serving worker through Sanic's multiplexer, as application code would (`app.m.restart`).
`create_growing_app` adds GET /grow?mb=N, which makes the serving worker keep N MiB more.
`create_late_starting_app` makes Sanic wait ACK_WAIT_SECONDS (not 30) for a new worker's
acknowledgement, and each worker start take LATE_START_SECONDS once the file named by
LATE_START_MARKER exists: a replacement that misses Sanic's wait."""

import os
import time
from pathlib import Path

from sanic import Request, text
from sanic.worker.process import WorkerProcess

from app.server import create_app as create_demo_app


def create_app():
    app = create_demo_app()

    @app.get("/pid")
    async def pid(request: Request):
        return text(str(os.getpid()))

    @app.get("/restart-me")
    async def restart_me(request: Request):
        request.app.m.restart()
        return text(str(os.getpid()))

    return app


# Memory a worker keeps once /grow allocated it, so that its resident size stays above a limit.
_kept: list[bytearray] = []


def create_growing_app():
    app = create_app()

    @app.get("/grow")
    async def grow(request: Request):
        megabytes = int(request.args.get("mb", "64"))
        _kept.append(bytearray(megabytes * 1024 * 1024))
        return text(str(os.getpid()))

    return app


ACK_WAIT_SECONDS = 2
LATE_START_SECONDS = 4


def create_late_starting_app():
    # Read by Sanic's STARTUP_FIRST thread in the main process, which calls this factory too.
    WorkerProcess.THRESHOLD = ACK_WAIT_SECONDS * 10
    app = create_app()
    marker = Path(os.environ["LATE_START_MARKER"])

    @app.before_server_start
    def start_late(app):
        if marker.exists():
            time.sleep(LATE_START_SECONDS)

    return app
