"""Bad input to the alertmanager and prometheus_server roles stops the run in their variable checks,
before any task that changes a host, with a message that names the variable. The checks run here
as site.yml's check play runs them (the `variables` entry point: argument specs, assertions and
control-node lookups only)."""

import sys
from pathlib import Path

from .render import REPO, run_plays

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def preflight(tmp_path, role, variables):
    include = {
        "ansible.builtin.include_role": {"name": role, "tasks_from": "variables"},
    }
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [include]}]
    return run_plays(plays, variables, REPO / "roles", tmp_path)


def test_a_webhook_receiver_without_url_is_named(tmp_path):
    result = preflight(
        tmp_path,
        "alertmanager",
        {
            "alertmanager_receivers": [{"name": "pager", "webhook_configs": [{}]}],
            "alertmanager_route": {"receiver": "pager"},
        },
    )
    assert result.returncode != 0
    assert "alertmanager_receivers[0] (pager).webhook_configs[0] has no url" in result.stdout
    assert "Nothing was changed." in result.stdout


def test_good_alertmanager_input_passes(tmp_path):
    result = preflight(tmp_path, "alertmanager", {})
    assert result.returncode == 0, result.stdout


def test_a_password_in_clear_where_a_hash_is_expected_is_named(tmp_path):
    users = [{"name": "admin", "password": "x"}, {"name": "grafana", "password_hash": "s3cret"}]
    result = preflight(tmp_path, "prometheus_server", {"prometheus_server_web_users": users})
    assert result.returncode != 0
    assert "prometheus_server_web_users[1] (grafana).password_hash is not a bcrypt hash" in (
        result.stdout
    )
    assert "s3cret" not in result.stdout


def web_input(tls, key_host):
    return {
        "prometheus_server_web_users": [{"name": "admin", "password": "x"}],
        "prometheus_server_web_tls_cert_file": str(tls / "prom1.crt"),
        "prometheus_server_web_tls_key_file": str(tls / f"{key_host}.key"),
    }


def test_a_certificate_that_does_not_match_its_key_is_named(tmp_path, tls):
    result = preflight(tmp_path, "prometheus_server", web_input(tls, "prom2"))
    assert result.returncode != 0
    assert f"{tls / 'prom1.crt'} does not match its key" in result.stdout


def test_good_web_input_passes(tmp_path, tls):
    alertmanagers = {"prometheus_server_alertmanagers": ["prom1:9093", "prom2:9093"]}
    result = preflight(tmp_path, "prometheus_server", {**web_input(tls, "prom1"), **alertmanagers})
    assert result.returncode == 0, result.stdout
