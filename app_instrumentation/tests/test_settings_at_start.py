"""Every setting the service reads from its environment is refused at start, by the settings
table's rule, with one line naming the variable, the value and the fix: through the launcher the
unit runs (`python -m app_instrumentation.serve`), before any worker starts or any scrape."""

import shutil
import subprocess

import pytest

from app_instrumentation.settings import BY_ENVIRONMENT, MERGE_TIMEOUT_SECONDS, read_environment
from sanic_testkit.service import (
    INSTRUMENTED_FACTORY,
    free_port,
    fresh_multiprocess_dir,
    launcher_command,
    service_environment,
)

TIMEOUT = 60
# One value each setting's rule refuses, by variable.
REFUSED = {
    "PROMETHEUS_MULTIPROC_DIR": "/dev/shm/../prom_shop",
    "INSTRUMENTED_APP": "app.server",
    "METRICS_PATH": "metrics",
    "SANIC_WORKER_MAX_REQUESTS": "ten",
    "SANIC_WORKER_MAX_REQUESTS_JITTER": "-5",
    "SANIC_WORKER_MAX_RSS_BYTES": "512M",
    "METRICS_ALLOWED_NETWORKS": "127.0.0.1/32,10.0.0.1/8",
    "METRICS_BEARER_TOKEN_FILE": "shop.token",
    "METRICS_DURATION_BUCKETS": "0.1,0.05",
    "METRICS_MERGE_TIMEOUT_SECONDS": "0",
    "METRICS_EXEMPLARS": "yes",
}


@pytest.fixture
def multiprocess_dir():
    path = fresh_multiprocess_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start(multiprocess_dir: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        launcher_command(INSTRUMENTED_FACTORY, workers=2, port=free_port()),
        env=service_environment(multiprocess_dir, **env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )


def refusal(result: subprocess.CompletedProcess) -> str:
    """The one line a start that was refused wrote."""
    assert result.returncode != 0
    return result.stderr.strip()


def test_every_variable_of_the_table_has_a_refused_value_here():
    assert sorted(REFUSED) == sorted(BY_ENVIRONMENT)


@pytest.mark.parametrize("variable", sorted(REFUSED))
def test_a_refused_value_stops_the_start_with_one_line(multiprocess_dir, variable):
    value = REFUSED[variable]

    result = start(multiprocess_dir, **{variable: value})

    lines = refusal(result).splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"app_instrumentation: error: {variable}={value} ")
    assert f"; fix: set {variable} to " in lines[0]
    assert "Worker ready" not in result.stdout + result.stderr


def test_a_merge_timeout_of_no_seconds_stops_the_start_not_the_first_scrape(multiprocess_dir):
    result = start(multiprocess_dir, METRICS_MERGE_TIMEOUT_SECONDS="-1")

    assert refusal(result) == (
        "app_instrumentation: error: METRICS_MERGE_TIMEOUT_SECONDS=-1 is not a number of seconds"
        " > 0; fix: set METRICS_MERGE_TIMEOUT_SECONDS to seconds > 0, such as 10"
    )


def test_an_unset_or_empty_merge_timeout_is_prometheus_default_scrape_timeout():
    for environ in ({}, {"METRICS_MERGE_TIMEOUT_SECONDS": ""}):
        assert read_environment([MERGE_TIMEOUT_SECONDS], environ) == {
            "METRICS_MERGE_TIMEOUT_SECONDS": 10.0
        }


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "ten", "0.0", " "])
def test_a_merge_timeout_is_a_finite_number_of_seconds_above_zero(text):
    with pytest.raises(SystemExit, match=f"METRICS_MERGE_TIMEOUT_SECONDS={text} is not a number"):
        MERGE_TIMEOUT_SECONDS.parse(text)


def test_a_jitter_without_a_request_limit_stops_the_start(multiprocess_dir):
    result = start(multiprocess_dir, SANIC_WORKER_MAX_REQUESTS_JITTER="10")

    assert refusal(result) == (
        "app_instrumentation: error: SANIC_WORKER_MAX_REQUESTS_JITTER=10 without"
        " SANIC_WORKER_MAX_REQUESTS; fix: set SANIC_WORKER_MAX_REQUESTS too, or unset"
        " SANIC_WORKER_MAX_REQUESTS_JITTER"
    )
