"""The victoria_metrics role on a fresh Debian 12 container of this test's own (`remotewrite-*`),
applied by ansible-playbook together with prometheus_server writing to it: a real Prometheus 2.42
sends its samples through remote write with basic auth and loads the remote-write alerts; the
store answers them to PromQL with the external labels, two samples of one series within the dedup
interval come back as one, requests without the password get 401, the password is on no command
line, the unit is hardened (systemd's own exposure score) and a second run changes nothing."""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from .containers import Fleet

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "writer", "remote-write-s3cret"
DEDUP = 15
PLAY = {
    "hosts": "store",
    "gather_facts": True,
    "roles": [
        "sanic_prometheus.multiprocess.victoria_metrics",
        "sanic_prometheus.multiprocess.prometheus_server",
    ],
}
VARIABLES = {
    "victoria_metrics_dedup_min_scrape_interval": f"{DEDUP}s",
    "victoria_metrics_search_latency_offset": "1s",
    "victoria_metrics_retention_period": "30d",
    "victoria_metrics_http_auth_username": USER,
    "victoria_metrics_http_auth_password": PASSWORD,
    "prometheus_server_cluster": "lab",
    "prometheus_server_replica_label": "replica",
    "prometheus_server_store_dedup_interval": f"{DEDUP}s",
    "prometheus_server_remote_write": [
        {
            "name": "vm",
            "url": "http://127.0.0.1:8428/api/v1/write",
            "basic_auth": {"username": USER, "password": PASSWORD},
            "queue_config": {"batch_send_deadline": "1s"},
        }
    ],
}


def apply_roles(fleet: Fleet, workdir: Path) -> subprocess.CompletedProcess:
    inventory = {
        "all": {
            "hosts": {
                "store": {
                    "ansible_host": fleet.containers["store"],
                    "ansible_connection": "community.docker.docker",
                    "ansible_python_interpreter": "/usr/bin/python3",
                }
            }
        }
    }
    (workdir / "inventory.json").write_text(json.dumps(inventory))
    (workdir / "play.json").write_text(json.dumps([PLAY]))
    return subprocess.run(
        [
            Path(sys.executable).parent / "ansible-playbook",
            "-i",
            workdir / "inventory.json",
            "--extra-vars",
            json.dumps(VARIABLES),
            workdir / "play.json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )


def store_request(fleet: Fleet, path: str, body: str = "", login: bool = True) -> tuple[int, str]:
    """(status, body) of a request to the store, from inside its container."""
    headers = {}
    if login:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    script = (
        "import sys, urllib.request, urllib.error\n"
        f"request = urllib.request.Request('http://127.0.0.1:8428{path}', headers={headers!r},"
        f" data={body.encode()!r} or None)\n"
        "try:\n"
        "    answer = urllib.request.urlopen(request, timeout=10)\n"
        "    print(answer.status); print(answer.read().decode())\n"
        "except urllib.error.HTTPError as error:\n"
        "    print(error.code); print(error.read().decode())\n"
    )
    result = fleet.run(fleet.containers["store"], "python3", "-c", script)
    assert result.returncode == 0, result.stderr
    status, _, text = result.stdout.partition("\n")
    return int(status), text


def query(fleet: Fleet, promql: str, at: float | None = None) -> list:
    arguments = {"query": promql, **({"time": f"{at:.3f}"} if at else {})}
    status, text = store_request(fleet, f"/api/v1/query?{urllib.parse.urlencode(arguments)}")
    assert status == 200, text
    return json.loads(text)["data"]["result"]


@pytest.mark.timeout(300)
def test_prometheus_writes_to_the_store_which_deduplicates_and_asks_for_a_password(
    tmp_path, capsys
):
    started = time.monotonic()
    with Fleet(["store"], prefix="remotewrite") as fleet:
        first = apply_roles(fleet, tmp_path)
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr
        container = fleet.containers["store"]

        assert store_request(fleet, "/api/v1/query?query=up", login=False)[0] == 401
        pid = fleet.run(container, "systemctl", "show", "victoria-metrics", "-p", "MainPID",
                        "--value").stdout.strip()  # fmt: skip
        command_line = fleet.run(container, "cat", f"/proc/{pid}/cmdline").stdout
        assert "-dedup.minScrapeInterval=15s" in command_line
        assert PASSWORD not in command_line
        hardening = fleet.run(
            container, "systemctl", "show", "victoria-metrics", "-p", "ProtectSystem",
            "-p", "NoNewPrivileges", "-p", "User",
        ).stdout  # fmt: skip
        assert sorted(hardening.split()) == ["NoNewPrivileges=yes", "ProtectSystem=strict",
                                             "User=_victoria-metrics"], hardening  # fmt: skip
        exposure = fleet.run(container, "systemd-analyze", "security", "victoria-metrics",
                             "--no-pager").stdout.splitlines()[-1]  # fmt: skip
        # The package's unit alone scores 9.2 UNSAFE (a unit with only User=), the drop-in 1.7.
        assert float(exposure.split(": ")[1].split()[0]) <= 2.0, exposure

        # Two replicas' samples of one series within one dedup interval, through the import API.
        interval_start = (int(time.time()) - 120) // DEDUP * DEDUP
        lines = [f"dedup_probe{{job=\"pair\"}} {value} {(interval_start + offset) * 1000}"
                 for value, offset in ((1, 2), (2, 7))]  # fmt: skip
        status, text = store_request(fleet, "/api/v1/import/prometheus", "\n".join(lines) + "\n")
        assert status == 204, text

        deadline = time.monotonic() + 60
        written = []
        while not written and time.monotonic() < deadline:
            time.sleep(2)
            written = query(fleet, 'up{job="prometheus"}')
        assert written, "no sample of Prometheus' own job reached the store through remote write"
        labels = written[0]["metric"]
        assert (labels["cluster"], labels["replica"], written[0]["value"][1]) == (
            "lab", "store", "1",
        )  # fmt: skip
        script = (
            "import urllib.request; print(urllib.request.urlopen("
            "'http://127.0.0.1:9090/api/v1/rules').read().decode())"
        )
        rules = json.loads(fleet.run(container, "python3", "-c", script).stdout)
        alerts = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
        assert {"PrometheusRemoteWriteFailing", "PrometheusRemoteWriteBehind"} <= alerts
        counted = query(fleet, "count_over_time(dedup_probe[1m])", at=interval_start + 30)
        assert [sample["value"][1] for sample in counted] == ["1"]

        again = apply_roles(fleet, tmp_path)
        assert again.returncode == 0, again.stdout[-4000:]
        assert "changed=0" in again.stdout, again.stdout[-4000:]
    with capsys.disabled():
        print(f"\nvictoria_metrics role test took {time.monotonic() - started:.1f} s",
              file=sys.stderr)  # fmt: skip
