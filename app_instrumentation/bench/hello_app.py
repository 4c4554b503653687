"""A hello-world Sanic app whose /metrics is served the stock way or this project's way.

`sanic hello_app:create_app --factory` with env BENCH_METRICS_HANDLER:
- `stock_inline`: the common recipe, MultiProcessCollector + generate_latest inside the handler,
  i.e. on the event loop;
- `project`: app_instrumentation.instrument(app), the endpoint this project ships.
"""

import os

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


def create_app():
    app = Sanic("bench_hello")
    app.config.ACCESS_LOG = False

    @app.get("/")
    async def hello(request):
        return text("hello")

    if os.environ[HANDLER_ENV_VAR] == "stock_inline":
        _add_stock_inline_metrics(app)
    else:
        from app_instrumentation import instrument

        instrument(app)
    return app
