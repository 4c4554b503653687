"""`instrument(app)`: exact HTTP metrics and a /metrics endpoint for a multi-worker Sanic app.

A request is timed from our request middleware to our response middleware. Request middleware run
highest priority first and response middleware lowest priority first, so ours run before any
other: a middleware that returns its own response cannot skip them (Sanic's lifecycle signals
would do the same at ~3.5 us per dispatch). The status recorded is the one entering response
middleware, so a later middleware that replaces the response does not change it; for streaming
responses the duration ends when headers are sent.

A client that disconnects mid-request never reaches response middleware: the request stays on
its connection and is recorded as 499 when the connection's task ends. This relies on Sanic's own
HTTP/1.1 server (one request at a time per connection), which is what `sanic --workers N` runs.
"""

import asyncio
import os
import sys
from functools import partial

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse

from app_instrumentation.access import AccessPolicy
from app_instrumentation.multiprocess_dir import require_multiprocess_dir

METRICS_PATH_ENV_VAR = "METRICS_PATH"
DEFAULT_METRICS_PATH = "/metrics"
METRICS_ROUTE_NAME = "app_instrumentation_metrics"
FIRST_REQUEST_MIDDLEWARE = sys.maxsize
FIRST_RESPONSE_MIDDLEWARE = -sys.maxsize
WEBSOCKET_STATUS = 101
# Per-connection slot (conn_info.ctx) holding (request, start) while a request is in flight.
_IN_FLIGHT = "app_instrumentation_in_flight"


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
    # Imported only after the check: declaring the metrics opens files in the directory.
    from app_instrumentation import http_metrics
    from app_instrumentation.exposition import make_metrics_handler

    metrics_path = metrics_path or os.environ.get(METRICS_PATH_ENV_VAR) or DEFAULT_METRICS_PATH
    access_policy = access_policy or AccessPolicy.from_environment()
    app.add_route(
        make_metrics_handler(multiprocess_dir, access_policy),
        metrics_path,
        methods=["GET"],
        name=METRICS_ROUTE_NAME,
    )
    metrics_route_name = f"{app.name}.{METRICS_ROUTE_NAME}"
    request_started = http_metrics.request_started
    request_finished = http_metrics.request_finished
    client_closed = http_metrics.CLIENT_CLOSED_REQUEST

    def finish_abandoned(connection_ctx, _task: asyncio.Task) -> None:
        in_flight = getattr(connection_ctx, _IN_FLIGHT)
        if in_flight is None:
            return
        request, started = in_flight
        setattr(connection_ctx, _IN_FLIGHT, None)
        route = request.route
        status = WEBSOCKET_STATUS if route is not None and route.extra.websocket else client_closed
        request_finished(request.method, request.uri_template, status, started)

    def start_request(request: Request) -> None:
        route = request.route
        if route is not None and route.name == metrics_route_name:
            return
        connection_ctx = request.conn_info.ctx
        if not hasattr(connection_ctx, _IN_FLIGHT):
            asyncio.current_task().add_done_callback(partial(finish_abandoned, connection_ctx))
        setattr(connection_ctx, _IN_FLIGHT, (request, request_started()))

    def finish_request(request: Request, response: BaseHTTPResponse) -> None:
        connection_info = request.conn_info
        in_flight = getattr(connection_info.ctx, _IN_FLIGHT, None)
        if in_flight is None or in_flight[0] is not request:
            return
        setattr(connection_info.ctx, _IN_FLIGHT, None)
        status = client_closed if connection_info.lost else response.status
        request_finished(request.method, request.uri_template, status, in_flight[1])

    app.on_request(start_request, priority=FIRST_REQUEST_MIDDLEWARE)
    app.on_response(finish_request, priority=FIRST_RESPONSE_MIDDLEWARE)

    def start_worker_supervisor(app: Sanic) -> None:
        # Imported in the main process only, so workers never write a file for its gauges.
        from app_instrumentation.workers import WorkerSupervisor

        app.ctx.app_instrumentation_supervisor = WorkerSupervisor(app.manager, multiprocess_dir)
        app.ctx.app_instrumentation_supervisor.start()

    app.main_process_ready(start_worker_supervisor)
    app.main_process_stop(_stop_worker_supervisor)
    app.ctx.app_instrumentation = metrics_path
    return app


def _stop_worker_supervisor(app: Sanic) -> None:
    supervisor = getattr(app.ctx, "app_instrumentation_supervisor", None)
    if supervisor is None:
        return
    supervisor.stop()
    if supervisor.gave_up:
        from app_instrumentation.workers import EXIT_CODE_RESTART_LOOP

        raise SystemExit(EXIT_CODE_RESTART_LOOP)
