"""The demo app plus GET /pid, which answers with the pid of the worker that served it.

`create_app` leaves it uninstrumented (wrapper mode: INSTRUMENTED_APP=pid_app:create_app);
`create_instrumented_app` instruments it itself (explicit mode).
"""

import os

from sanic import Request, text

from app.server import create_app as create_demo_app
from app_instrumentation import instrument


def create_app():
    app = create_demo_app()

    @app.get("/pid")
    async def pid(request: Request):
        return text(str(os.getpid()))

    return app


def create_instrumented_app():
    return instrument(create_app())
