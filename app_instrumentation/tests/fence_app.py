"""The demo app plus routes that call sanic_internals' worker-side functions in a real worker and
answer what they saw, for tests/test_sanic_internals.py.

GET /fence/connections?peer=PORT: the listening servers and connections the gc scan finds, and what
the connection functions read of this request's connection and of the client's other one (PORT).
GET /fence/close: answered with its connection closed by close_connection_after_response.
GET /fence/slow: outlives SANIC_RESPONSE_TIMEOUT; GET /fence/cancelled: what exception_that_ended
read when Sanic cancelled it. GET /fence/routes: is_websocket_route of every route.
"""

import asyncio
import time

from sanic import Request, json, text

from app.server import create_app as create_demo_app
from app_instrumentation.sanic_internals import (
    close_connection_after_response,
    connection_has_unparsed_bytes,
    connection_is_idle,
    connection_last_active,
    connection_started,
    exception_that_ended,
    is_websocket_route,
    listening_servers_and_connections,
)

WEBSOCKET_PATH = "/fence/ws"
SLOW_SECONDS = 5


def connection_facts(protocol) -> dict:
    started = connection_started(protocol)
    return {
        "started": started,
        "idle": started and connection_is_idle(protocol),
        "unparsed_bytes": connection_has_unparsed_bytes(protocol),
        "last_active": connection_last_active(protocol),
    }


def create_app():
    app = create_demo_app()
    cancelled_with: list[str] = []

    @app.get("/fence/connections")
    async def fence_connections(request: Request):
        servers, open_connections = listening_servers_and_connections()
        peer_port = int(request.args.get("peer"))
        [peer] = [
            connection
            for connection in open_connections
            if connection.transport
            and connection.transport.get_extra_info("peername")[1] == peer_port
        ]
        return json(
            {
                "servers_serving": [server.is_serving() for server in servers],
                "this_connection_listed": request.protocol in open_connections,
                "this": connection_facts(request.protocol),
                "peer": connection_facts(peer),
                "now": time.monotonic(),
            }
        )

    @app.get("/fence/close")
    async def fence_close(request: Request):
        close_connection_after_response(request)
        return text("closing")

    @app.get("/fence/slow")
    async def fence_slow(request: Request):
        try:
            await asyncio.sleep(SLOW_SECONDS)
        finally:
            cancelled_with.append(type(exception_that_ended(request)).__name__)
        return text("not cancelled")

    @app.get("/fence/cancelled")
    async def fence_cancelled(request: Request):
        return json(cancelled_with)

    @app.get("/fence/routes")
    async def fence_routes(request: Request):
        return json({f"/{route.path}": is_websocket_route(route) for route in app.router.routes})

    @app.websocket(WEBSOCKET_PATH)
    async def fence_echo(request: Request, websocket):
        async for message in websocket:
            await websocket.send(message)

    return app
