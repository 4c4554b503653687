"""Every way a request ends is counted once: middleware that answer, a replaced response, a
websocket, a malformed request, a response timeout; scrapes under another path are not counted;
and instrumenting twice does not count twice."""

import socket
import time

import pytest
from middleware_app import DENY_HEADER, ECHO_PATH, REPLACED_STATUS
from websockets.sync.client import connect

from sanic_testkit.service import SanicService, request_counts


@pytest.fixture(scope="module")
def service():
    with SanicService(workers=2, INSTRUMENTED_APP="middleware_app:create_app") as running:
        yield running


def changed_since(service, before, expected, timeout=5.0):
    """Counts changed since `before`, polled until they equal `expected` or `timeout` passes:
    a request is recorded just after its response is sent, so a scrape may come first."""
    deadline = time.monotonic() + timeout
    while True:
        after = request_counts(service.scrape())
        changed = {key: after[key] - before.get(key, 0) for key in after}
        changed = {key: value for key, value in changed.items() if value}
        if changed == expected or time.monotonic() > deadline:
            return changed
        time.sleep(0.05)


def counts_after(service, requests, expected):
    before = request_counts(service.scrape())
    statuses = [service.request(method, path, headers)[0] for method, path, headers in requests]
    return statuses, changed_since(service, before, expected)


def test_request_middleware_that_answers_early_is_still_counted_once(service):
    expected = {("/", "GET", "401"): 5}
    statuses, changed = counts_after(service, [("GET", "/", {DENY_HEADER: "1"})] * 5, expected)

    assert statuses == [401] * 5
    assert changed == expected


def test_response_replaced_by_a_middleware_is_counted_with_the_status_the_client_got(service):
    expected = {("/items/<item_id:int>", "GET", str(REPLACED_STATUS)): 4}
    statuses, changed = counts_after(service, [("GET", "/items/1", {})] * 4, expected)

    assert statuses == [REPLACED_STATUS] * 4
    assert changed == expected


def test_instrumenting_twice_counts_each_request_once(service):
    expected = {("/api/v1/users/<name:str>", "GET", "200"): 3}
    statuses, changed = counts_after(service, [("GET", "/api/v1/users/x", {})] * 3, expected)

    assert statuses == [200] * 3
    assert changed == expected


def test_websocket_is_counted_once_as_101_when_it_closes(service):
    before = request_counts(service.scrape())
    for message in ("one", "two"):
        with connect(f"ws://127.0.0.1:{service.port}{ECHO_PATH}", open_timeout=10) as websocket:
            websocket.send(message)
            assert websocket.recv(timeout=10) == message
    expected = {(ECHO_PATH, "GET", "101"): 2}

    assert changed_since(service, before, expected) == expected


def test_malformed_request_answered_before_routing_is_counted_as_unmatched(service):
    before = request_counts(service.scrape())
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as connection:
            connection.sendall(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n")
            assert connection.recv(64).startswith(b"HTTP/1.1 400 ")
    # Sanic answers before it has parsed a method: "NONE", outside the standard set.
    expected = {("__unmatched__", "_OTHER", "400"): 3}

    assert changed_since(service, before, expected) == expected


def test_metrics_under_a_trailing_slash_are_served_but_never_counted_nor_left_in_flight(service):
    before = request_counts(service.scrape())
    for _ in range(3):
        status, _, body = service.request("GET", "/metrics/")
        assert status == 200
        assert b"http_server_active_requests" in body

    samples = service.scrape()
    assert request_counts(samples) == before
    assert samples[("http_server_active_requests", frozenset())] == 0


def test_request_cancelled_by_the_response_timeout_is_counted_once_as_503():
    # The demo app's /slow outlasts a 1 s response timeout: Sanic cancels it and answers 503.
    with SanicService(workers=1, SANIC_RESPONSE_TIMEOUT="1") as timed_out:
        before = request_counts(timed_out.scrape())
        statuses = [timed_out.request("GET", "/slow?seconds=5")[0] for _ in range(2)]
        expected = {("/slow", "GET", "503"): 2}

        assert statuses == [503, 503]
        assert changed_since(timed_out, before, expected) == expected
        assert timed_out.scrape()[("http_server_active_requests", frozenset())] == 0
