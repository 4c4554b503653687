"""The recycling keys reach the service's unit: the role's resolve.yml and its unit template, run
by ansible-playbook on this machine, write each service's settings as the environment its main
process reads (role-wide defaults, overridden per service)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT_TEMPLATE = REPO / "roles" / "sanic_service" / "templates" / "sanic-service.service.j2"


def run_play(tmp_path, variables: dict, tasks_from: str) -> subprocess.CompletedProcess:
    """Resolve the services like the role does (`tasks_from`, with its argument spec), then
    render each one's unit from the role's unit template into tmp_path."""
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {
                "ansible.builtin.include_role": {
                    "name": "sanic_service",
                    "tasks_from": tasks_from,
                    "public": True,
                }
            },
            {
                "ansible.builtin.template": {
                    "src": str(UNIT_TEMPLATE),
                    "dest": f"{tmp_path}/{{{{ service.unit_name }}}}",
                    "mode": "0644",
                },
                "loop": "{{ sanic_service_instances }}",
                "loop_control": {"loop_var": "service"},
            },
        ],
    }
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([play]))
    return subprocess.run(
        [
            Path(sys.executable).parent / "ansible-playbook",
            "--connection=local",
            "--inventory=localhost,",
            "--extra-vars",
            json.dumps({"ansible_python_interpreter": sys.executable, **variables}),
            playbook,
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_NOCOLOR": "1",
        },
        timeout=180,
    )


def service(name, port, **keys):
    return {"name": name, "factory": "app:create", "app_source": "/src", "port": port, **keys}


def environment_of(unit: Path) -> dict:
    lines = unit.read_text().splitlines()
    pairs = [line[len('Environment="') : -1] for line in lines if line.startswith("Environment=")]
    return dict(pair.split("=", 1) for pair in pairs)


def test_each_unit_carries_its_services_recycling_settings(tmp_path):
    variables = {
        "sanic_service_max_requests": 5000,
        "sanic_service_max_requests_jitter": 500,
        "sanic_services": [
            service("shop", 10010),
            service("reports", 10011, max_requests=0, max_rss_bytes=268435456),
        ],
    }

    result = run_play(tmp_path, variables, "resolve")

    assert result.returncode == 0, result.stdout + result.stderr
    recycling = {
        unit: {
            key: value
            for key, value in environment_of(tmp_path / unit).items()
            if key.startswith("SANIC_WORKER_")
        }
        for unit in ("sanic-shop.service", "sanic-reports.service")
    }
    assert recycling == {
        "sanic-shop.service": {
            "SANIC_WORKER_MAX_REQUESTS": "5000",
            "SANIC_WORKER_MAX_REQUESTS_JITTER": "500",
            "SANIC_WORKER_MAX_RSS_BYTES": "0",
        },
        "sanic-reports.service": {
            "SANIC_WORKER_MAX_REQUESTS": "0",
            "SANIC_WORKER_MAX_REQUESTS_JITTER": "500",
            "SANIC_WORKER_MAX_RSS_BYTES": "268435456",
        },
    }


def test_the_argument_spec_refuses_a_recycling_setting_that_is_no_integer(tmp_path):
    variables = {"sanic_services": [service("shop", 10010, max_rss_bytes="512M")]}

    result = run_play(tmp_path, variables, "resolve")

    assert result.returncode != 0
    assert "argument 'max_rss_bytes' is of type str found in 'sanic_services'" in result.stdout
    assert """"'512M'" cannot be converted to an int""" in result.stdout
    assert not (tmp_path / "sanic-shop.service").exists()
