"""The demo app with an OpenTelemetry tracer, as an app that traces its own requests has one.

Every request but GET /untraced runs in a server span that starts when Sanic has read it and ends
once its response is written (Sanic's http.lifecycle.response signal, which comes after the
package has recorded the request's duration), the span a tracing middleware would keep current.
GET /traced answers its span's ids in headers, for test_exemplars_opentelemetry.py to look for
on the request's bucket. Needs opentelemetry-api and -sdk on the path (.cache/opentelemetry).
"""

from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from sanic import Request, text

from app.server import create_app as create_demo_app

UNTRACED_PATH = "/untraced"


def create_app():
    app = create_demo_app()
    tracer = TracerProvider(sampler=ALWAYS_ON).get_tracer(__name__)

    @app.on_request
    async def start_server_span(request: Request):
        if request.path != UNTRACED_PATH:
            span = tracer.start_span(f"{request.method} {request.path}")
            request.ctx.span = span
            request.ctx.span_token = context.attach(trace.set_span_in_context(span))

    @app.signal("http.lifecycle.response")
    async def end_server_span(request: Request, response):
        span = getattr(request.ctx, "span", None)
        if span is not None:
            span.end()
            context.detach(request.ctx.span_token)

    @app.get("/traced")
    async def traced(request: Request):
        span = trace.get_current_span().get_span_context()
        return text(
            "traced",
            headers={"x-trace-id": f"{span.trace_id:032x}", "x-span-id": f"{span.span_id:016x}"},
        )

    @app.get(UNTRACED_PATH)
    async def untraced(request: Request):
        return text("untraced")

    return app
