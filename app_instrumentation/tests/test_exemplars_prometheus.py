"""A real Prometheus with exemplar storage scrapes a 4-worker service and stores its exemplars."""

import json
import time
import urllib.parse
import urllib.request

import pytest

from sanic_testkit.prometheus import start_prometheus
from sanic_testkit.service import SanicService, free_port

SCRAPE_INTERVAL_SECONDS = 1


def query_exemplars(url: str, query: str) -> list[dict]:
    now = time.time()
    arguments = urllib.parse.urlencode({"query": query, "start": now - 600, "end": now + 60})
    with urllib.request.urlopen(f"{url}/api/v1/query_exemplars?{arguments}", timeout=5) as answer:
        return json.load(answer)["data"]


@pytest.mark.timeout(120)
def test_prometheus_stores_each_trace_on_the_bucket_of_its_request(tmp_path):
    traces = {f"{index + 1:032x}": path for index, path in enumerate(("/", "/boom", "/missing"))}
    with SanicService(workers=4) as service:
        listen = f"127.0.0.1:{free_port()}"
        config = {
            "global": {"scrape_interval": f"{SCRAPE_INTERVAL_SECONDS}s"},
            "scrape_configs": [
                {
                    "job_name": "sanic",
                    "static_configs": [{"targets": [f"127.0.0.1:{service.port}"]}],
                }
            ],
        }
        prometheus = start_prometheus(tmp_path, config, listen, "--enable-feature=exemplar-storage")
        try:
            for trace_id, path in traces.items():
                service.request("GET", path, {"traceparent": f"00-{trace_id}-{'cd' * 8}-01"})
            stored = {}
            deadline = time.monotonic() + 60
            while set(stored) != set(traces) and time.monotonic() < deadline:
                time.sleep(SCRAPE_INTERVAL_SECONDS)
                try:
                    series = query_exemplars(
                        f"http://{listen}", "http_server_request_duration_seconds_bucket"
                    )
                except OSError:
                    continue
                stored = {
                    exemplar["labels"]["trace_id"]: (entry["seriesLabels"], exemplar["value"])
                    for entry in series
                    for exemplar in entry["exemplars"]
                }
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=20)

    assert set(stored) == set(traces), (tmp_path / "prometheus.log").read_text()[-2000:]
    routes = {trace_id: labels["http_route"] for trace_id, (labels, _) in stored.items()}
    assert routes == {
        "00000000000000000000000000000001": "/",
        "00000000000000000000000000000002": "/boom",
        "00000000000000000000000000000003": "__unmatched__",
    }
    for labels, value in stored.values():
        assert float(value) <= float(labels["le"])
