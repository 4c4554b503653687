"""Which app hosts site.yml deploys a batch at a time (plugins/filter/sanic_service_rollout.py):
a host goes through the batched, health-gated play exactly when a deploy would restart a service
there or finds one not running as installed, and the reasons name the service and what changed.
The fleet's deploy and rollout checks run the plan against real hosts."""

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter.sanic_service_rollout import (
    revision_changes,
    rollout_reasons,
)

HTTP = {"name": "api", "scheme": "http"}
HTTPS = {
    "name": "admin",
    "scheme": "https",
    "host_tls_cert": "/opt/admin/tls/server.crt",
    "host_tls_key": "/opt/admin/tls/server.key",
}
# What plan.yml found as a deploy writes it: here, the HTTPS service's certificate and key.
SETTLED = (HTTPS["host_tls_cert"], HTTPS["host_tls_key"])
RUNNING = "app-1 venv-1 unitsum socketsum"
RUNNING_HTTPS = "app-1 venv-1 tls-1 unitsum socketsum"


def revision(installed: str, started: str, listening: bool = True) -> dict:
    return {"installed": installed, "started": started, "listening": listening}


def reasons(revisions: dict, services=(HTTP,), settled=SETTLED, reads=(), rollback=False):
    return rollout_reasons(list(services), revisions, list(settled), list(reads), rollback)


def test_a_host_running_what_is_installed_needs_no_batched_deploy():
    assert reasons({"api": revision(RUNNING, RUNNING)}) == []
    assert reasons({"admin": revision(RUNNING_HTTPS, RUNNING_HTTPS)}, services=[HTTPS]) == []


@pytest.mark.parametrize(
    ("installed", "changed"),
    [
        ("app-2 venv-1 unitsum socketsum", "app"),
        ("app-1 venv-2 unitsum socketsum", "virtualenv"),
        ("app-1 venv-1 unit-written-in-check-mode socketsum", "unit"),
        ("app-1 venv-1 unitsum", "shape"),
        ("app-1 venv-1 othersum socketsum", "unit"),
        ("app-1 venv-1 unitsum othersum", "socket unit"),
        ("app-2 venv-2 othersum socketsum", "app, virtualenv, unit"),
    ],
)
def test_each_part_of_the_revision_that_differs_is_named(installed, changed):
    [reason] = reasons({"api": revision(installed, RUNNING)})
    expected = "started with a revision of another shape" if changed == "shape" else changed
    assert reason == f"api: would restart ({expected})"


def test_the_certificate_part_is_named_for_an_https_service():
    [reason] = reasons(
        {"admin": revision("app-1 venv-1 tls-2 unitsum socketsum", RUNNING_HTTPS)},
        services=[HTTPS],
    )
    assert reason == "admin: would restart (certificate and key)"


def test_a_service_never_started_by_the_role_or_not_listening_needs_it():
    assert reasons({"api": revision(RUNNING, "")}) == [
        "api: would restart (never started by this role)"
    ]
    assert reasons({"api": revision(RUNNING, RUNNING, listening=False)}) == [
        "api: its socket unit does not listen"
    ]


@pytest.mark.parametrize("settled", [(), SETTLED[:1], SETTLED[1:]])
def test_a_certificate_or_key_to_install_counts_once_per_service(settled):
    assert reasons(
        {"admin": revision(RUNNING_HTTPS, RUNNING_HTTPS)},
        services=[HTTPS],
        settled=settled,
    ) == ["admin: certificate or key to install"]


def test_what_the_host_read_and_a_rollback_run_are_reasons_too():
    read = [
        "api: sanic-api.service is not active",
        "/etc/systemd/system/old.service is still installed",
    ]
    assert reasons({"api": revision(RUNNING, RUNNING)}, reads=read) == read
    assert reasons({"api": revision(RUNNING, RUNNING)}, rollback=True) == [
        "a rollback run restarts every service it rolls back"
    ]


def test_revisions_of_services_not_on_the_host_are_ignored():
    # set_fact accumulates revisions over a run; only this host's services count.
    assert reasons({"api": revision(RUNNING, RUNNING), "gone": revision(RUNNING, "")}) == []


def test_revision_changes_compares_field_by_field():
    assert revision_changes(RUNNING, RUNNING) == []
    assert revision_changes(RUNNING_HTTPS, "app-1 venv-1 tls-0 unitsum socketsum") == [
        "certificate and key"
    ]
