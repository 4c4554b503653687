"""A hello-world Sanic app whose /metrics is served the stock way or this project's way.

`sanic hello_app:create_app --factory` with env BENCH_METRICS_HANDLER:
- `stock_inline`: the common recipe, MultiProcessCollector + generate_latest inside the handler,
  i.e. on the event loop;
- `safe_thread`: SafeMultiProcessCollector in a one-thread executor, off the event loop but on the
  worker's GIL (this project's endpoint before it moved the merge out of the worker's process);
- `project`: app_instrumentation.instrument(app), the endpoint this project ships (the merge in
  the service's one merger process);
- `per_worker_merger`: the same, but every worker starts a merger of its own at its first scrape
  (the fallback for a process without a Sanic main process): the design before issue 15, a merge
  helper per worker, kept to measure it against;
- `bare`: no metrics at all, the app an operator would hand to the zero-change wrapper;
- `hook_floor`: no metrics, but every request timed from start to response through the cheapest
  per-request hooks found in Sanic 25.12 (see `_add_hook_floor`): what any instrumentation costs
  before it writes a metric. Its /metrics answers how many requests this worker timed;
- `hook_floor_metrics`: the same hooks writing what app_instrumentation writes per request
  (`http_metrics.request_started` and `request_finished`: in-flight gauge and duration histogram).
"""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter

from sanic import Request, Sanic
from sanic.response import raw, text

HANDLER_ENV_VAR = "BENCH_METRICS_HANDLER"
HOOK_FLOOR_ANSWER = "requests timed: "


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


def _add_hook_floor(app, write_metrics):
    """Time each request with the fewest Python calls Sanic allows; with write_metrics, record it
    as app_instrumentation does, else record nothing.

    Start: Sanic's HTTP/1.1 protocol calls `request_class._current.set(request)` once per
    request, just after creating it: a stand-in for that ContextVar starts the timer. End:
    `Request.respond` sets `responded = True` with the final response: a property catches it.
    Both are cheaper than a coroutine around `handle_request` or `respond` (which
    app_instrumentation overrides, to also see requests that never reach `respond`), but a bench
    device only: `_current` is private to Sanic.
    """
    current = Request._current
    responded = Request.responded  # the slot's descriptor
    timed = [0]  # requests this worker timed, so that the bench can check the hooks ran
    start, finish = perf_counter, None
    if write_metrics:
        from app_instrumentation.multiprocess_dir import require_multiprocess_dir

        require_multiprocess_dir()
        from app_instrumentation.http_metrics import process_http_metrics

        http_metrics = process_http_metrics()
        start, finish = http_metrics.request_started, http_metrics.request_finished

    class TimerStart:
        __slots__ = ()

        def set(self, request):
            request.bench_started = start()
            return current.set(request)

        def get(self, *default):
            return current.get(*default)

        def reset(self, token):
            return current.reset(token)

    class TimedRequest(Request):
        __slots__ = ("bench_elapsed", "bench_started")
        _current = TimerStart()

        @property
        def responded(self):
            return responded.__get__(self)

        @responded.setter
        def responded(self, value):
            responded.__set__(self, value)
            if value:
                if finish is None:
                    self.bench_elapsed = perf_counter() - self.bench_started
                else:
                    # The hello route's template: no routing lookup, as a floor.
                    finish(self.method, "/", self.stream.response.status, self.bench_started)
                timed[0] += 1

    app.request_class = TimedRequest

    @app.get("/metrics")
    async def requests_timed(request):
        return text(f"{HOOK_FLOOR_ANSWER}{timed[0]}", status=200 if timed[0] > 1 else 500)


def _add_per_worker_mergers(app):
    from app_instrumentation import instrument
    from app_instrumentation.exposition import MERGER_SOCKET_ENV_VAR

    instrument(app)

    @app.main_process_start
    def no_service_merger(app):
        # Runs after instrument()'s listener started it: the workers then find no socket.
        app.ctx.app_instrumentation_merger.stop()
        del os.environ[MERGER_SOCKET_ENV_VAR]


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
    elif handler == "per_worker_merger":
        _add_per_worker_mergers(app)
    elif handler in ("hook_floor", "hook_floor_metrics"):
        _add_hook_floor(app, write_metrics=handler == "hook_floor_metrics")
    elif handler != "bare":
        raise ValueError(f"{HANDLER_ENV_VAR}={handler!r} is not a known handler")
    return app
