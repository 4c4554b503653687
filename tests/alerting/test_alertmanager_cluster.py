"""Two real Alertmanagers, configured by the role's template and clustered as the role clusters
the Prometheus servers' ones, both receive every alert (as from two Prometheus servers): the lab's
webhook receiver gets one notification, then one resolved one. Unclustered, it gets two of each:
the test can see a duplicate. Everything listens on 127.0.0.1 high ports."""

import datetime
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from .render import REPO, render_template

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus-alertmanager") is None,
    reason="Debian package prometheus-alertmanager",
)

WEBHOOK_RECEIVER = REPO / "molecule" / "resources" / "webhook_receiver.py"
# Alertmanager's HA sends at least once: a peer that read the group as firing less than a peer
# timeout before it resolved sends that firing again. Production keeps group_interval (5m) far
# above the peer timeout (15s); the test keeps the same proportion, so the race stays improbable.
PEER_TIMEOUT_SECONDS = 2
GROUP_INTERVAL_SECONDS = 20
ALERT = {"alertname": "SanicTargetDown", "job": "sanic-api", "instance": "app1:10010"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method, url, document=None):
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def processes():
    started = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        # A clustered Alertmanager may take its time to leave the cluster.
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def webhook(tmp_path, processes):
    port = free_port()
    processes.append(
        subprocess.Popen(
            [
                sys.executable,
                WEBHOOK_RECEIVER,
                "--listen",
                f"127.0.0.1:{port}",
                "--record",
                tmp_path / "record.jsonl",
            ]
        )
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: http("GET", f"{url}/notifications") == [], 10, "webhook receiver answers")
    return url


def start_alertmanagers(tmp_path, processes, webhook_url, clustered):
    """Two Alertmanagers on the role's rendered configuration; their web URLs."""
    config = render_template(
        "alertmanager",
        "alertmanager.yml.j2",
        tmp_path / "alertmanager.yml",
        {
            "alertmanager_receivers": [
                {"name": "lab-webhook", "webhook_configs": [{"url": f"{webhook_url}/alerts"}]}
            ],
            "alertmanager_route": {
                "receiver": "lab-webhook",
                "group_by": ["alertname", "job", "service", "instance"],
                "group_wait": "1s",
                "group_interval": f"{GROUP_INTERVAL_SECONDS}s",
                "repeat_interval": "4h",
            },
        },
    )
    (tmp_path / "alertmanager.yml").write_text(config)
    web_ports = [free_port(), free_port()]
    cluster_ports = [free_port(), free_port()]
    for index in range(2):
        peer = cluster_ports[1 - index]
        cluster_flags = (
            [
                f"--cluster.listen-address=127.0.0.1:{cluster_ports[index]}",
                f"--cluster.advertise-address=127.0.0.1:{cluster_ports[index]}",
                f"--cluster.peer=127.0.0.1:{peer}",
                f"--cluster.peer-timeout={PEER_TIMEOUT_SECONDS}s",
                "--cluster.settle-timeout=10s",
            ]
            if clustered
            else ["--cluster.listen-address="]
        )
        processes.append(
            subprocess.Popen(
                [
                    "prometheus-alertmanager",
                    f"--config.file={tmp_path / 'alertmanager.yml'}",
                    f"--storage.path={tmp_path / f'data{index}'}",
                    f"--web.listen-address=127.0.0.1:{web_ports[index]}",
                    *cluster_flags,
                ],
                stdout=subprocess.DEVNULL,
                stderr=(tmp_path / f"alertmanager{index}.log").open("w"),
            )
        )
    urls = [f"http://127.0.0.1:{port}" for port in web_ports]
    for url in urls:
        wait_for(
            lambda url=url: urllib.request.urlopen(f"{url}/-/ready").status == 200,
            30,
            f"{url}/-/ready",
        )
        if clustered:
            wait_for(
                lambda url=url: len(http("GET", f"{url}/api/v2/status")["cluster"]["peers"]) == 2,
                30,
                f"{url} sees both peers",
            )
    return urls


def post_alert(urls, ends_at):
    """What each Prometheus server does: send the alert to every Alertmanager."""
    alert = {"labels": ALERT, "annotations": {"summary": "test"}, "endsAt": ends_at.isoformat()}
    for url in urls:
        http("POST", f"{url}/api/v2/alerts", [alert])


def notifications(webhook_url, status):
    return [
        n for n in http("GET", f"{webhook_url}/notifications") if n["payload"]["status"] == status
    ]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("clustered", "expected"),
    [(True, 1), (False, 2)],
    ids=["clustered: once", "unclustered: twice"],
)
def test_an_alert_sent_to_both_alertmanagers_is_notified_then_resolved(
    tmp_path, processes, webhook, clustered, expected
):
    urls = start_alertmanagers(tmp_path, processes, webhook, clustered)
    now = datetime.datetime.now(datetime.UTC)

    post_alert(urls, now + datetime.timedelta(minutes=5))
    wait_for(lambda: notifications(webhook, "firing"), 40, "a firing notification")
    # The second Alertmanager sends only after its peer's turn (peer timeout) and reads the log.
    time.sleep(2 * PEER_TIMEOUT_SECONDS + 2)
    firing = notifications(webhook, "firing")

    post_alert(urls, datetime.datetime.now(datetime.UTC))
    wait_for(
        lambda: notifications(webhook, "resolved"),
        GROUP_INTERVAL_SECONDS + 20,
        "a resolved notification",
    )
    time.sleep(2 * PEER_TIMEOUT_SECONDS + 2)
    resolved = notifications(webhook, "resolved")

    assert len(firing) == expected, firing
    assert len(resolved) == expected, resolved
    for notification in firing + resolved:
        assert notification["path"] == "/alerts"
        assert [alert["labels"] for alert in notification["payload"]["alerts"]] == [ALERT]
    assert min(n["received_at"] for n in resolved) > max(n["received_at"] for n in firing)
