"""An app that instruments itself (sanic_service's `instrumentation: explicit` mode).

The lab runs it beside the unchanged demo app, so both ways in are deployed and verified.
"""

from sanic import Request, Sanic, text

from app_instrumentation import instrument


def create_app() -> Sanic:
    app = Sanic("explicit")

    @app.get("/")
    async def hello(request: Request):
        return text("hello from an explicitly instrumented app\n")

    @app.get("/items/<item_id:int>")
    async def show_item(request: Request, item_id: int):
        return text(f"item {item_id}\n")

    @app.get("/boom")
    async def boom(request: Request):
        raise RuntimeError("a handler that fails, counted as 500")

    return instrument(app)
