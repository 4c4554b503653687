"""Exemplars from the current OpenTelemetry span, in a service whose app traces its requests.

opentelemetry-api and -sdk come from .cache/opentelemetry (scripts/setup.sh), on the service's
path only: in the test venv they would put the span lookup on every other test's hot path.
"""

import itertools
import os
from pathlib import Path

import pytest
from test_exemplars import BUCKET_LINE, OPENMETRICS

from sanic_testkit.service import DEMO_DIR, TESTS_DIR, SanicService

OPENTELEMETRY_DIR = Path(__file__).resolve().parents[2] / ".cache" / "opentelemetry"
SENT_SPAN = "ab" * 8


_trace_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def service():
    if not (OPENTELEMETRY_DIR / "opentelemetry" / "sdk").is_dir():
        pytest.fail(f"no OpenTelemetry in {OPENTELEMETRY_DIR}: run scripts/setup.sh")
    path = os.pathsep.join(map(str, [DEMO_DIR, TESTS_DIR, OPENTELEMETRY_DIR]))
    with SanicService(
        workers=2, INSTRUMENTED_APP="opentelemetry_app:create_app", PYTHONPATH=path
    ) as service:
        yield service


def sent_traceparent() -> tuple[str, str]:
    """(a new trace id, a sampled traceparent header carrying it)."""
    trace_id = f"{next(_trace_numbers):032x}"
    return trace_id, f"00-{trace_id}-{SENT_SPAN}-01"


def exemplars(service) -> dict[str, set[tuple[str, str]]]:
    """{route: {(trace id, span id)}} of the GET 200 buckets' exemplars."""
    _, _, body = service.request("GET", "/metrics", OPENMETRICS)
    found: dict[str, set[tuple[str, str]]] = {}
    for match in BUCKET_LINE.finditer(body.decode()):
        if (match["method"], match["status"]) == ("GET", "200") and match["trace"]:
            found.setdefault(match["route"], set()).add((match["trace"], match["span"]))
    return found


def server_span(service, headers: dict[str, str]) -> tuple[str, str]:
    status, answered, _ = service.request("GET", "/traced", headers)
    assert status == 200
    return answered["x-trace-id"], answered["x-span-id"]


def test_a_request_without_traceparent_leaves_its_server_spans_ids(service):
    span = server_span(service, {})
    assert span in exemplars(service)["/traced"]


def test_the_server_span_wins_over_the_traceparent_it_was_sent(service):
    sent_trace, header = sent_traceparent()
    span = server_span(service, {"traceparent": header})
    assert span[0] != sent_trace  # the app starts its own trace: it does not propagate
    on_route = exemplars(service)["/traced"]
    assert span in on_route
    assert (sent_trace, SENT_SPAN) not in on_route


def test_without_a_recording_span_the_traceparent_is_used(service):
    sent_trace, header = sent_traceparent()
    status, _, _ = service.request("GET", "/untraced", {"traceparent": header})
    assert status == 200
    assert exemplars(service)["/untraced"] == {(sent_trace, SENT_SPAN)}
