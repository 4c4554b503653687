"""The prometheus_server role's web configuration and `alerting:` block: rendered by Ansible and
checked by the real promtool, bad users and certificates refused before any change, and a real
Prometheus on 127.0.0.1 that answers 401 without credentials and 200 with them, over HTTPS."""

import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest
import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    prometheus_server_alerting as alerting,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    prometheus_server_web as web,
)

from .render import REPO

ROLE = REPO / "roles" / "prometheus_server"
DEBIAN_CONFIG = Path("/etc/prometheus/prometheus.yml")
pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool: Debian prometheus"
)


def render_web_config(tmp_path, users, tls_dir=None):
    """web.yml as the roles write it, the certificate and key where the role installs them."""
    if tls_dir:
        (tmp_path / "web").mkdir()
        shutil.copy(tls_dir / "prom1.crt", tmp_path / "web" / "server.crt")
        shutil.copy(tls_dir / "prom1.key", tmp_path / "web" / "server.key")
    hashes = web.prometheus_server_web_hashes(users)
    text = web.web_config_text(hashes, str(tmp_path / "web") if tls_dir else "")
    (tmp_path / "web.yml").write_text(text)
    return text


ADMIN = {"name": "admin", "password": "correct horse battery staple"}


@pytest.mark.parametrize("with_tls", [True, False], ids=["basic auth over TLS", "basic auth"])
def test_rendered_web_config_passes_promtool(tmp_path, tls, with_tls):
    render_web_config(tmp_path, [ADMIN], tls if with_tls else None)
    check = subprocess.run(
        ["promtool", "check", "web-config", tmp_path / "web.yml"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load((tmp_path / "web.yml").read_text())
    assert config["basic_auth_users"]["admin"].startswith("$2b$10$")
    assert ("tls_server_config" in config) == with_tls


def test_a_hash_is_kept_while_its_password_matches_and_made_anew_when_it_changes():
    first = web.prometheus_server_web_hashes([ADMIN])
    assert web.prometheus_server_web_hashes([ADMIN], first) == first
    changed = web.prometheus_server_web_hashes([{**ADMIN, "password": "another"}], first)
    assert changed["admin"] != first["admin"]


def test_a_given_bcrypt_hash_is_used_as_it_is():
    given = web.prometheus_server_web_hashes([ADMIN])["admin"]
    users = [{"name": "grafana", "password_hash": given}, ADMIN]
    assert web.prometheus_server_web_problems(users) == []
    assert web.prometheus_server_web_hashes(users)["grafana"] == given


def test_a_password_in_clear_where_a_hash_is_expected_is_refused():
    assert web.prometheus_server_web_problems(
        [ADMIN, {"name": "grafana", "password_hash": "s3cret"}]
    ) == [
        "prometheus_server_web_users[1] (grafana).password_hash is not a bcrypt hash ($2b$...):"
        " a password in clear belongs in `password`, which the role hashes on the control node."
    ]


def test_users_with_hashes_only_are_refused_since_the_role_must_log_in():
    given = web.prometheus_server_web_hashes([ADMIN])["admin"]
    problems = web.prometheus_server_web_problems([{"name": "admin", "password_hash": given}])
    assert len(problems) == 1 and "one user needs its `password`" in problems[0]


def test_a_certificate_that_does_not_match_its_key_is_refused(tls):
    cert, key = tls / "prom1.crt", tls / "prom2.key"
    problems = web.prometheus_server_web_problems(
        [ADMIN], str(cert), str(key), cert.read_text(), key.read_text()
    )
    assert problems == [
        f"prometheus_server_web_tls_cert_file {cert} does not match its key"
        f" prometheus_server_web_tls_key_file {key}."
    ]


def test_a_certificate_without_its_key_is_refused(tls):
    cert = tls / "prom1.crt"
    problems = web.prometheus_server_web_problems([ADMIN], str(cert), "", cert.read_text(), "")
    assert problems and "go together" in problems[0]


@pytest.mark.skipif(not DEBIAN_CONFIG.exists(), reason="Debian's prometheus.yml")
def test_alerting_block_replaces_the_packages_localhost_alertmanager(tmp_path):
    targets = ["prom1:9093", "prom2:9093"]
    once = alerting.prometheus_server_with_alerting(DEBIAN_CONFIG.read_text(), targets)
    (tmp_path / "prometheus.yml").write_text(once)

    check = subprocess.run(
        ["promtool", "check", "config", tmp_path / "prometheus.yml"], capture_output=True, text=True
    )

    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load(once)
    assert config["alerting"] == {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}
    assert [job["job_name"] for job in config["scrape_configs"]] == ["prometheus", "node"]
    assert alerting.prometheus_server_with_alerting(once, targets) == once
    assert yaml.safe_load(alerting.prometheus_server_with_alerting(once, ["prom3:9093"]))[
        "alerting"
    ]["alertmanagers"][0]["static_configs"][0]["targets"] == ["prom3:9093"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status_of(url, context, credentials=None):
    request = urllib.request.Request(url)
    if credentials:
        token = b64encode(f"{credentials['name']}:{credentials['password']}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian package prometheus")
@pytest.mark.timeout(60)
def test_prometheus_answers_401_without_credentials_and_200_with_them_over_https(tmp_path, tls):
    render_web_config(tmp_path, [ADMIN], tls)
    (tmp_path / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    port = free_port()
    prometheus = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.config.file={tmp_path / 'web.yml'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        context = ssl.create_default_context(cafile=tls / "ca.crt")
        url = f"https://127.0.0.1:{port}/api/v1/status/buildinfo"
        deadline = time.monotonic() + 30
        while status_of_or_none(url, context) is None and time.monotonic() < deadline:
            time.sleep(0.2)

        assert status_of(url, context) == 401
        assert status_of(url, context, {**ADMIN, "password": "wrong"}) == 401
        assert status_of(url, context, ADMIN) == 200
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=20)


def status_of_or_none(url, context):
    try:
        return status_of(url, context)
    except OSError:
        return None


def test_a_certificate_or_key_missing_on_the_control_node_is_named(tmp_path):
    cert, key = tmp_path / "absent.crt", tmp_path / "absent.key"
    # The role passes '' for a file that is not there (its lookup would fail without a message).
    problems = web.prometheus_server_web_problems([ADMIN], str(cert), str(key), "", "")
    assert problems == [
        f"prometheus_server_web_tls_cert_file {cert} is not a readable file on the control node.",
        f"prometheus_server_web_tls_key_file {key} is not a readable file on the control node.",
    ]
