"""A hello-world Sanic app whose /metrics is served the stock way or this project's way.

`sanic hello_app:create_app --factory` with env BENCH_METRICS_HANDLER:
- `stock_inline`: the common recipe, MultiProcessCollector + generate_latest inside the handler,
  i.e. on the event loop;
- `safe_thread`: SafeMultiProcessCollector in a one-thread executor, off the event loop but on the
  worker's GIL (this project's endpoint before it moved the merge to a helper process);
- `project`: app_instrumentation.instrument(app), the endpoint this project ships (the merge in a
  helper process);
- `bare`: no metrics at all, the app an operator would hand to the zero-change wrapper.
"""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from sanic import Sanic
from sanic.response import raw, text

HANDLER_ENV_VAR = "BENCH_METRICS_HANDLER"


def _add_stock_inline_metrics(app):
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    @app.get("/metrics")
    async def metrics(request):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return raw(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _add_safe_thread_metrics(app):
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from app_instrumentation.collector import SafeMultiProcessCollector

    executor = ThreadPoolExecutor(max_workers=1)

    def render():
        registry = CollectorRegistry()
        SafeMultiProcessCollector(registry)
        return generate_latest(registry)

    @app.get("/metrics")
    async def metrics(request):
        body = await asyncio.get_running_loop().run_in_executor(executor, render)
        return raw(body, content_type=CONTENT_TYPE_LATEST)


def create_app():
    app = Sanic("bench_hello")
    app.config.ACCESS_LOG = False

    @app.get("/")
    async def hello(request):
        return text("hello")

    handler = os.environ[HANDLER_ENV_VAR]
    if handler == "stock_inline":
        _add_stock_inline_metrics(app)
    elif handler == "safe_thread":
        _add_safe_thread_metrics(app)
    elif handler == "project":
        from app_instrumentation import instrument

        instrument(app)
    elif handler != "bare":
        raise ValueError(f"{HANDLER_ENV_VAR}={handler!r} is not a known handler")
    return app
