"""Alertmanager's UI and API behind basic auth over TLS (--web.config.file), written as
prometheus_server's are (plugins/filter/prometheus_server_web.py): a real Alertmanager answers 401
without the password, and a real Prometheus, given the alerting block the role writes with its
login, delivers an alert to it. Bad input is refused before any change, naming the variable."""

import json
import shutil
import ssl
import subprocess
import time
import urllib.request
from base64 import b64encode

import pytest
import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    prometheus_server_alerting as alerting,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    prometheus_server_web as web,
)

from .render import REPO, run_plays
from .test_prometheus_web import free_port, status_of, status_of_or_none

SENDER = {"name": "prometheus", "password": "alerts-s3cret"}
ADMIN = {"name": "admin", "password": "correct horse battery staple"}
needs_packages = pytest.mark.skipif(
    shutil.which("prometheus-alertmanager") is None or shutil.which("prometheus") is None,
    reason="Debian packages prometheus and prometheus-alertmanager",
)


def started(tmp_path, name, argv):
    return subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=(tmp_path / f"{name}.log").open("w"), cwd=tmp_path
    )


def wait_until_up(url, context):
    deadline = time.monotonic() + 30
    while status_of_or_none(url, context) is None and time.monotonic() < deadline:
        time.sleep(0.2)


def alert_labels(url, context):
    token = b64encode(f"{ADMIN['name']}:{ADMIN['password']}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, context=context, timeout=5) as response:
        return [alert["labels"] for alert in json.load(response)]


@needs_packages
@pytest.mark.timeout(90)
def test_alertmanager_answers_401_without_a_password_and_takes_prometheus_alerts_with_it(
    tmp_path, tls
):
    (tmp_path / "web").mkdir()
    shutil.copy(tls / "prom1.crt", tmp_path / "web" / "server.crt")
    shutil.copy(tls / "prom1.key", tmp_path / "web" / "server.key")
    hashes = web.prometheus_server_web_hashes([ADMIN, SENDER])
    (tmp_path / "web.yml").write_text(web.web_config_text(hashes, str(tmp_path / "web")))
    (tmp_path / "alertmanager.yml").write_text(
        "route: {receiver: default}\nreceivers: [{name: default}]\n"
    )
    port = free_port()
    login = {"scheme": "https", "username": SENDER["name"], "ca_file": str(tls / "ca.crt"),
             "password_file": str(tmp_path / "alertmanager.password")}  # fmt: skip
    (tmp_path / "alertmanager.password").write_text(SENDER["password"])
    (tmp_path / "rules.yml").write_text(
        "groups: [{name: t, rules: [{alert: AlwaysFiring, expr: vector(1)}]}]\n"
    )
    config = alerting.prometheus_server_with_alerting(
        "global:\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n",
        [f"127.0.0.1:{port}"],
        login,
    )
    (tmp_path / "prometheus.yml").write_text(config)
    check = subprocess.run(
        ["promtool", "check", "config", tmp_path / "prometheus.yml"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    alertmanager_block = yaml.safe_load(config)["alerting"]["alertmanagers"][0]
    assert alertmanager_block["basic_auth"]["password_file"] == login["password_file"]

    processes = [
        started(tmp_path, "alertmanager", [
            "prometheus-alertmanager", f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
            f"--web.config.file={tmp_path / 'web.yml'}", "--cluster.listen-address="]),
        started(tmp_path, "prometheus", [
            "prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{free_port()}",
            # The first firing may come before the Alertmanager is discovered: resend soon.
            "--rules.alert.resend-delay=1s"]),
    ]  # fmt: skip
    try:
        context = ssl.create_default_context(cafile=tls / "ca.crt")
        url = f"https://127.0.0.1:{port}/api/v2/status"
        wait_until_up(url, context)
        assert status_of(url, context) == 401
        assert status_of(url, context, {**ADMIN, "password": "wrong"}) == 401
        assert status_of(url, context, ADMIN) == 200
        labels, deadline = [], time.monotonic() + 40
        while not labels and time.monotonic() < deadline:
            time.sleep(1)
            labels = alert_labels(f"https://127.0.0.1:{port}/api/v2/alerts", context)
        # The replica label is dropped: both servers of a pair send one and the same alert.
        assert labels == [{"alertname": "AlwaysFiring"}], (tmp_path / "prometheus.log").read_text()[
            -2000:
        ]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


def preflight(tmp_path, role, variables):
    include = {"ansible.builtin.include_role": {"name": role, "tasks_from": "variables"}}
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [include]}]
    return run_plays(plays, variables, REPO / "roles", tmp_path)


def test_a_bad_alertmanager_user_or_certificate_is_named(tmp_path, tls):
    users = [ADMIN, {"name": "grafana", "password_hash": "s3cret"}]
    result = preflight(tmp_path, "alertmanager", {
        "alertmanager_web_users": users,
        "alertmanager_web_tls_cert_file": str(tls / "prom1.crt"),
        "alertmanager_web_tls_key_file": str(tls / "prom2.key")})  # fmt: skip
    assert result.returncode != 0
    assert "alertmanager_web_users[1] (grafana).password_hash is not a bcrypt hash" in result.stdout
    assert f"alertmanager_web_tls_cert_file {tls / 'prom1.crt'} does not match its key" in (
        result.stdout
    )
    assert "s3cret" not in result.stdout


def test_a_sender_without_its_password_is_named(tmp_path):
    result = preflight(tmp_path, "prometheus_server",
                       {"prometheus_server_alertmanager_username": "prometheus"})  # fmt: skip
    assert result.returncode != 0
    assert (
        "prometheus_server_alertmanager_username and prometheus_server_alertmanager_password"
        in (result.stdout)
    )
