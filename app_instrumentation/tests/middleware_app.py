"""The demo app plus middleware that return their own responses and a websocket route,
instrumented explicitly.

The zero-change factory instruments it a second time, which must change nothing.
"""

from sanic import Request, text

from app.server import create_app as create_demo_app
from app_instrumentation import instrument

DENY_HEADER = "x-deny"
REPLACED_STATUS = 203
ECHO_PATH = "/echo"


def create_app():
    app = create_demo_app()

    @app.on_request(priority=1_000_000)
    async def deny_marked_requests(request: Request):
        if request.headers.get(DENY_HEADER):
            return text("denied\n", status=401)

    @app.on_response(priority=-1_000_000)
    async def replace_item_responses(request: Request, response):
        if request.path.startswith("/items/"):
            return text("replaced\n", status=REPLACED_STATUS)

    @app.websocket(ECHO_PATH)
    async def echo(request: Request, websocket):
        async for message in websocket:
            await websocket.send(message)

    return instrument(app)
