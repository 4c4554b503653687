"""`panels_without_data`, which the fleet's verify can call, names exactly the panel queries that
a real Prometheus answers with no number."""

import shutil
import socket
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from dashboards.queries import committed_dashboard, panels, panels_without_data
from sanic_testkit.prometheus import start_prometheus

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None, reason="Debian package prometheus"
)
# Prometheus scrapes itself as a service of the job: the dashboard's "Scrape duration" has data.
CONFIG = {
    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
    "rule_files": ["slo.yml"],
    "scrape_configs": [
        {
            "job_name": "sanic-api",
            "static_configs": [{"targets": ["{listen}"], "labels": {"service": "demo"}}],
        }
    ],
}
# One SLO's budget as slo.py records it: the dashboard's "Error budget remaining" has data.
SLO_RULES = {
    "groups": [
        {
            "name": "slo",
            "rules": [
                {
                    "record": "sanic_slo:error_budget_remaining:ratio",
                    "expr": "vector(0.5)",
                    "labels": {
                        "job": "sanic-api",
                        "service": "demo",
                        "slo": "availability",
                        "objective": "99.9",
                        "window": "28d",
                    },
                }
            ],
        }
    ]
}
ANSWERED = {"Scrape duration / A", "Error budget remaining / A"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str, query: str) -> bool:
    try:
        with urllib.request.urlopen(
            f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}", timeout=5
        ) as response:
            return b'"result":[]' not in response.read()
    except OSError:
        return False


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prometheus")
    listen = f"127.0.0.1:{free_port()}"
    config = yaml.safe_load(yaml.safe_dump(CONFIG).replace("{listen}", listen))
    (directory / "slo.yml").write_text(yaml.safe_dump(SLO_RULES))
    prometheus = start_prometheus(directory, config, listen)
    url = f"http://{listen}"
    try:
        deadline = time.monotonic() + 30
        while not all(
            answers(url, query)
            for query in ("scrape_duration_seconds", "sanic_slo:error_budget_remaining:ratio")
        ):
            assert time.monotonic() < deadline, (directory / "prometheus.log").read_text()
            time.sleep(0.5)
        yield url
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=20)


def every_query() -> set[str]:
    return {
        f"{panel['title']} / {target['refId']}"
        for panel in panels(committed_dashboard())
        for target in panel["targets"]
    }


@pytest.mark.timeout(90)
def test_only_the_queries_with_series_behind_them_have_data(prometheus_url):
    assert set(panels_without_data(prometheus_url)) == every_query() - ANSWERED


@pytest.mark.timeout(90)
def test_another_job_leaves_every_panel_without_data(prometheus_url):
    assert set(panels_without_data(prometheus_url, job="other")) == every_query()
