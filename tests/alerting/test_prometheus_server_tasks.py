"""The prometheus_server role's web and alerting tasks, run by ansible-playbook on this machine
against a scratch copy of Debian's prometheus.yml (every write checked by the real promtool):
security and alerting on, a rerun changes nothing, security off, on again. The restart handler is
replaced by a note, so nothing here touches a running Prometheus."""

import grp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .render import copy_role_with_noted_handler, run_plays

DEBIAN_CONFIG = Path("/etc/prometheus/prometheus.yml")
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def has_group(name):
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


pytestmark = [
    pytest.mark.skipif(not DEBIAN_CONFIG.exists(), reason="Debian package prometheus"),
    pytest.mark.skipif(not has_group("prometheus"), reason="the prometheus group of the package"),
]


@pytest.fixture
def scratch(tmp_path):
    """The role with its restart handler replaced by a note, and a copy of Debian's config."""
    copy_role_with_noted_handler(
        "prometheus_server", tmp_path / "roles", "Restart Prometheus", "RESTART NOTIFIED"
    )
    (tmp_path / "etc").mkdir()
    shutil.copy(DEBIAN_CONFIG, tmp_path / "etc" / "prometheus.yml")
    return tmp_path


def run_tasks(scratch, tls, **overrides):
    variables = {
        "prometheus_server_config_file": str(scratch / "etc" / "prometheus.yml"),
        "prometheus_server_web_config_file": str(scratch / "etc" / "web.yml"),
        "prometheus_server_alertmanagers": ["prom1:9093", "prom2:9093"],
        "prometheus_server_web_users": [{"name": "admin", "password": "correct horse"}],
        "prometheus_server_web_tls_cert_file": str(tls / "prom1.crt"),
        "prometheus_server_web_tls_key_file": str(tls / "prom1.key"),
        **overrides,
    }
    tasks = [
        {"ansible.builtin.include_role": {"name": "prometheus_server", "tasks_from": name}}
        for name in ("web", "alerting")
    ]
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    result = run_plays(plays, variables, scratch / "roles", scratch)
    assert result.returncode == 0, result.stdout + result.stderr
    recap = result.stdout.rsplit("PLAY RECAP", 1)[1]
    return int(recap.split("changed=")[1].split()[0]), "RESTART NOTIFIED" in result.stdout


def config(scratch):
    return yaml.safe_load((scratch / "etc" / "prometheus.yml").read_text())


@pytest.mark.timeout(300)
def test_web_security_and_alerting_on_idempotent_off_and_on_again(scratch, tls):
    changed, restarted = run_tasks(scratch, tls)
    assert changed > 0 and restarted
    self_job = config(scratch)["scrape_configs"][0]
    assert (self_job["job_name"], self_job["scheme"]) == ("prometheus", "https")
    assert self_job["basic_auth"]["username"] == "admin"
    assert config(scratch)["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "prom1:9093",
        "prom2:9093",
    ]
    web = yaml.safe_load((scratch / "etc" / "web.yml").read_text())
    assert web["basic_auth_users"]["admin"].startswith("$2b$")

    assert run_tasks(scratch, tls) == (0, False)

    changed, restarted = run_tasks(
        scratch,
        tls,
        prometheus_server_web_users=[],
        prometheus_server_web_tls_cert_file="",
        prometheus_server_web_tls_key_file="",
    )
    assert changed > 0 and restarted
    assert not (scratch / "etc" / "web.yml").exists()
    assert "scheme" not in config(scratch)["scrape_configs"][0]

    changed, _ = run_tasks(scratch, tls)
    assert changed > 0
    assert config(scratch)["scrape_configs"][0]["scheme"] == "https"
    check = subprocess.run(
        ["promtool", "check", "config", scratch / "etc" / "prometheus.yml"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
