"""`instrument(app)`: exact HTTP metrics and a /metrics endpoint for a multi-worker Sanic app.

`instrument` gives the app, and the requests it creates, subclasses of their own classes (the app
object, its routes and listeners stay the same) that override two methods Sanic calls for every
request:
- `Sanic.handle_request`, the request's entry point (what Sanic's HTTP/1.1 protocol awaits):
  starts the timer and the in-flight count, before routing and every middleware;
- `Request.respond`, called with the final response once response middleware have run and
  before a byte of it is written: records duration and status. So a middleware that returns its
  own response is counted (with the status the client gets), and a worker killed after answering
  has always counted the request. A streaming response is recorded when its headers go out.
What never reaches `respond` is recorded when `handle_request` ends: a websocket (101), a
connection lost first (499), a request Sanic cancelled (its response timeout: 503).
A request Sanic answers before calling `handle_request` (malformed or incomplete: 400, 408) reaches
only `respond`, and is counted as unmatched.

Why not middleware or signals: a request and a response middleware, with the per-connection
bookkeeping they need to see disconnects, cost ~10 us per request through Sanic's middleware
dispatch, 3x the metrics' own writes (a hello route served 0.76x the bare app's requests); a Sanic
signal costs ~3.5 us per dispatch. Two overridden methods cost two coroutine frames.
"""

import asyncio
from time import monotonic, perf_counter

from multidict import istr
from sanic import Request, Sanic

from app_instrumentation.access import AccessPolicy
from app_instrumentation.compaction import compact_own_files_at_exit
from app_instrumentation.crash_budget import EXIT_CODE_RESTART_LOOP
from app_instrumentation.draining import stop_accepting_and_read_pending
from app_instrumentation.exposition import make_metrics_handler, start_service_merger
from app_instrumentation.http_metrics import (
    CLIENT_CLOSED_REQUEST,
    HttpMetrics,
    process_http_metrics,
)
from app_instrumentation.multiprocess_dir import require_multiprocess_dir
from app_instrumentation.recycling import RecyclingSettings, ask_to_be_recycled
from app_instrumentation.sanic_internals import (
    close_connection_after_response,
    exception_that_ended,
    is_websocket_route,
)
from app_instrumentation.settings import METRICS_PATH, read_environment
from app_instrumentation.workers import WorkerSupervisor

METRICS_ROUTE_NAME = "app_instrumentation_metrics"
WEBSOCKET_STATUS = 101
# How long a stopping worker keeps answering, with `Connection: close`, before Sanic closes the
# connections that are idle: long enough for a busy keep-alive client's next request even on a
# loaded host. New connections are still served meanwhile, so no client waits for it.
DRAIN_SECONDS = 1.0
SERVER_ERROR_STATUS = 500
# The header's name in the type of Sanic's headers (multidict's CIMultiDict, a dependency of
# Sanic): looked up without being lower-cased first, 0.07 us against 0.11 us per request.
TRACEPARENT_HEADER = istr("traceparent")


def instrument(
    app: Sanic,
    *,
    metrics_path: str | None = None,
    access_policy: AccessPolicy | None = None,
) -> Sanic:
    """Instrument `app` once; calling it again on the same app changes nothing.

    metrics_path: where the merged metrics are served (default: env METRICS_PATH or /metrics);
        requests to it are not counted.
    access_policy: who may scrape (default: env METRICS_ALLOWED_NETWORKS and
        METRICS_BEARER_TOKEN_FILE; both empty means everyone).
    """
    if getattr(app.ctx, "app_instrumentation", None) is not None:
        return app
    multiprocess_dir = require_multiprocess_dir()
    # Every setting of the table, in the main process and in every worker, before anything
    # starts: a bad value stops the start, whichever of them this call goes on to use.
    read_environment()
    recycling = RecyclingSettings.from_environment()
    # Declaring the metrics opens files: only once the directory passed the check.
    http_metrics = process_http_metrics()
    metrics_path = metrics_path or METRICS_PATH.read()
    access_policy = access_policy or AccessPolicy.from_environment()
    app.add_route(
        make_metrics_handler(multiprocess_dir, access_policy),
        metrics_path,
        methods=["GET"],
        name=METRICS_ROUTE_NAME,
    )
    _with_request_metrics(app, metrics_path, http_metrics)
    request_limit = recycling.worker_request_limit()
    if request_limit:
        _with_request_limit(app, request_limit)

    def start_merger(app: Sanic) -> None:
        # Before the workers are spawned, so that they inherit the merger socket's path.
        app.ctx.app_instrumentation_merger = start_service_merger(multiprocess_dir)

    def start_worker_supervisor(app: Sanic) -> None:
        app.ctx.app_instrumentation_supervisor = WorkerSupervisor(
            app.manager, multiprocess_dir, recycling=recycling
        )
        app.ctx.app_instrumentation_supervisor.start()

    def compact_at_exit(app: Sanic) -> None:
        compact_own_files_at_exit(multiprocess_dir)

    app.before_server_start(compact_at_exit)
    app.main_process_start(start_merger)
    app.main_process_ready(start_worker_supervisor)
    app.main_process_stop(_stop_worker_supervisor)
    app.main_process_stop(_stop_merger)
    app.ctx.app_instrumentation = metrics_path
    return app


def _stop_merger(app: Sanic) -> None:
    merger = getattr(app.ctx, "app_instrumentation_merger", None)
    if merger is not None:
        merger.stop()


def _stop_worker_supervisor(app: Sanic) -> None:
    supervisor = getattr(app.ctx, "app_instrumentation_supervisor", None)
    if supervisor is None:
        return
    supervisor.stop()
    if supervisor.gave_up:
        raise SystemExit(EXIT_CODE_RESTART_LOOP)


def _with_request_metrics(app: Sanic, metrics_path: str, http_metrics: HttpMetrics) -> None:
    """Give `app` and its requests subclasses of their classes that record the HTTP metrics."""
    # Bound once: a request then reaches them without an attribute lookup.
    request_started = http_metrics.request_started
    request_finished = http_metrics.request_finished
    request_not_counted = http_metrics.request_not_counted
    # Off: the header is not even read.
    exemplars_on = http_metrics.exemplars_on
    metrics_route_name = f"{app.name}.{METRICS_ROUTE_NAME}"
    metrics_path_bytes = metrics_path.encode()

    # Route path -> request.uri_template's value, without building it again for every request.
    templates: dict[str, str] = {}
    # Set when the worker starts to stop: every answer from then on closes its connection.
    draining = False

    async def drain_keep_alive_connections(app: Sanic) -> None:
        """Let each busy keep-alive connection end after its next answer, before Sanic closes the
        idle ones. Sanic itself keeps serving a busy connection until its graceful timeout and
        then aborts it mid-request; a client told `Connection: close` reconnects instead, and
        under socket activation that new connection waits for the next worker. Then the worker
        stops accepting and reads the requests already sent to it (draining.py)."""
        nonlocal draining
        draining = True
        draining_since = monotonic()
        await asyncio.sleep(DRAIN_SECONDS)
        await stop_accepting_and_read_pending(draining_since)

    app.before_server_stop(drain_keep_alive_connections)

    def record(request: Request, status: int) -> None:
        """Record `request` once, unless it is a scrape."""
        started = request.app_instrumentation_started
        request.app_instrumentation_started = None
        route = request.route
        if route is None:
            template = None
        elif route.name == metrics_route_name:
            if request.app_instrumentation_in_flight:
                # The metrics route under another path (a trailing slash).
                request_not_counted()
            return
        else:
            path = route.path
            template = templates.get(path) or templates.setdefault(path, f"/{path}")
        in_flight = request.app_instrumentation_in_flight
        if exemplars_on:
            traceparent = request.headers.get(TRACEPARENT_HEADER)
            request_finished(request.method, template, status, started, in_flight, traceparent)
        else:
            request_finished(request.method, template, status, started, in_flight)

    def status_without_response(request: Request) -> int:
        route = request.route
        if route is not None and is_websocket_route(route):
            return WEBSOCKET_STATUS
        if request.conn_info.lost:
            return CLIENT_CLOSED_REQUEST
        # Sanic answers a request it cancelled with the exception it cancelled it for (503 for
        # its response timeout), anything else that escapes with 500.
        exception = exception_that_ended(request)
        return getattr(exception, "status_code", SERVER_ERROR_STATUS)

    request_class = app.request_class or Request
    app_class = type(app)
    # Not super(): no proxy object per call. app_class.handle_request is looked up at each call,
    # because Sanic rewrites it at startup (TouchUp).
    base_respond = request_class.respond

    class InstrumentedRequest(request_class):
        __slots__ = ("app_instrumentation_in_flight", "app_instrumentation_started")

        async def respond(self, *args, **kwargs):
            response = await base_respond(self, *args, **kwargs)
            if draining and self.stream is not None:
                close_connection_after_response(self)
            try:
                started = self.app_instrumentation_started
            except AttributeError:
                if self.conn_info is not None:
                    return response
                # Answered before handle_request (Sanic sets conn_info just before calling
                # it): a malformed or incomplete request. Counted, as unmatched.
                self.app_instrumentation_in_flight = True
                self.app_instrumentation_started = started = request_started()
            if started is not None:
                if self.conn_info is not None and self.conn_info.lost:
                    record(self, CLIENT_CLOSED_REQUEST)
                else:
                    record(self, response.status)
            return response

    class InstrumentedSanic(app_class):
        async def handle_request(self, request: InstrumentedRequest) -> None:
            # A scrape is not counted, nor in flight while it runs: it would see itself.
            in_flight = not (
                request.raw_url.startswith(metrics_path_bytes) and request.path == metrics_path
            )
            try:
                request.app_instrumentation_in_flight = in_flight
            except AttributeError:
                # app.request_class was replaced after instrument(): served, not counted.
                return await app_class.handle_request(self, request)
            request.app_instrumentation_started = request_started() if in_flight else perf_counter()
            try:
                await app_class.handle_request(self, request)
            finally:
                # Not recorded by respond(): a websocket, a lost connection, a cancellation.
                if request.app_instrumentation_started is not None:
                    record(request, status_without_response(request))

    # Same names as the classes they extend, for logs and reprs.
    InstrumentedRequest.__name__ = InstrumentedRequest.__qualname__ = request_class.__name__
    InstrumentedSanic.__name__ = InstrumentedSanic.__qualname__ = app_class.__name__
    app.request_class = InstrumentedRequest
    # Assigning __class__ keeps every reference to the app valid; the subclass adds no state.
    app.__class__ = InstrumentedSanic


def _with_request_limit(app: Sanic, limit: int) -> None:
    """Ask the main process to recycle this worker once it has served `limit` requests.

    A subclass only when a limit is set, so that without one a request costs nothing more."""
    remaining = limit
    app_class = type(app)

    class RequestLimitedSanic(app_class):
        async def handle_request(self, request: Request) -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:  # once: the count goes on below 0, and the main process retries
                ask_to_be_recycled(self)
            return await app_class.handle_request(self, request)

    RequestLimitedSanic.__name__ = RequestLimitedSanic.__qualname__ = app_class.__name__
    app.__class__ = RequestLimitedSanic
