"""The demo app plus GET /pid (the serving worker's pid) and GET /restart-me, which restarts the
serving worker through Sanic's multiplexer, as application code would (`app.m.restart`).
`create_growing_app` adds GET /grow?mb=N, which makes the serving worker keep N MiB more."""

import os

from sanic import Request, text

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
