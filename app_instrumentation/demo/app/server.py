"""Demo application factory: `app.server:create_app`.

Routes cover what the instrumentation must label correctly: a path parameter, a blueprint, a
handler that raises, a slow handler (for in-flight requests and client disconnects) and a
streaming response.
"""

import asyncio

from sanic import Request, Sanic, text

from app.users import users

SLOW_MAX_SECONDS = 30.0
STREAM_CHUNKS = 5


def create_app() -> Sanic:
    app = Sanic("demo")
    app.config.ACCESS_LOG = False
    app.blueprint(users)

    @app.get("/")
    async def hello(request: Request):
        return text("hello\n")

    @app.get("/items/<item_id:int>")
    async def show_item(request: Request, item_id: int):
        return text(f"item {item_id}\n")

    @app.get("/boom")
    async def boom(request: Request):
        raise RuntimeError("demo handler failure")

    @app.get("/slow")
    async def slow(request: Request):
        try:
            seconds = float(request.args.get("seconds", "1"))
        except ValueError:
            return text("seconds must be a number\n", status=400)
        await asyncio.sleep(min(max(seconds, 0.0), SLOW_MAX_SECONDS))
        return text("slow\n")

    @app.get("/stream")
    async def stream(request: Request):
        response = await request.respond(content_type="text/plain")
        for chunk in range(STREAM_CHUNKS):
            await response.send(f"chunk {chunk}\n")
            await asyncio.sleep(0.01)
        await response.eof()

    return app
