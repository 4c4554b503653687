"""Middleware that return their own responses, and double instrumentation, do not change counts."""

import pytest
from middleware_app import DENY_HEADER, REPLACED_STATUS
from sanic_service import SanicService, request_counts


@pytest.fixture(scope="module")
def service():
    with SanicService(workers=2, INSTRUMENTED_APP="middleware_app:create_app") as running:
        yield running


def counts_after(service, requests):
    before = request_counts(service.scrape())
    statuses = [service.request(method, path, headers)[0] for method, path, headers in requests]
    after = request_counts(service.scrape())
    changed = {key: after[key] - before.get(key, 0) for key in after}
    return statuses, {key: value for key, value in changed.items() if value}


def test_request_middleware_that_answers_early_is_still_counted_once(service):
    statuses, changed = counts_after(service, [("GET", "/", {DENY_HEADER: "1"})] * 5)

    assert statuses == [401] * 5
    assert changed == {("/", "GET", "401"): 5}


def test_response_middleware_that_replaces_the_response_does_not_skip_the_metrics(service):
    statuses, changed = counts_after(service, [("GET", "/items/1", {})] * 4)

    assert statuses == [REPLACED_STATUS] * 4
    assert changed == {("/items/<item_id:int>", "GET", "200"): 4}


def test_instrumenting_twice_counts_each_request_once(service):
    statuses, changed = counts_after(service, [("GET", "/api/v1/users/x", {})] * 3)

    assert statuses == [200] * 3
    assert changed == {("/api/v1/users/<name:str>", "GET", "200"): 3}
