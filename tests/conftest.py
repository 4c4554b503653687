"""Fixtures shared by the tests of the roles, and the collection path every Ansible run of the
tests uses."""

import copy
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SANIC_SERVICE_ROLE = REPO / "roles" / "sanic_service"
# The checkout as the collection sanic_prometheus.multiprocess (scripts/setup.sh makes the link).
COLLECTIONS_PATH = REPO / ".cache" / "collections"


def pytest_configure(config):
    """The tests import the collection's plugins (pytest.ini's pythonpath), and their
    ansible-playbook runs find it, as ansible/ansible.cfg and Molecule do."""
    link = COLLECTIONS_PATH / "ansible_collections" / "sanic_prometheus" / "multiprocess"
    if not (link / "galaxy.yml").is_file():
        raise pytest.UsageError(
            f"{link} does not lead to this checkout: run scripts/setup.sh, which links it there"
        )
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(
        filter(None, [str(COLLECTIONS_PATH), os.environ.get("ANSIBLE_COLLECTIONS_PATH")])
    )


@pytest.fixture(scope="session")
def resolve_services():
    """sanic_service's resolver (plugins/filter/sanic_service_resolver.py) with each role-wide
    keyword at the role's default (defaults/main.yml) unless the test gives it: a test names only
    what it sets, and a keyword the resolver gains needs no edit here."""
    # Imported here, not with the module: conftest loads before pytest_configure checks the link.
    from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
        sanic_service_resolver,
    )

    resolve_with = sanic_service_resolver.resolve_services
    defaults = yaml.safe_load((SANIC_SERVICE_ROLE / "defaults" / "main.yml").read_text())
    role_keywords = {
        name: defaults[f"sanic_service_{name}"]
        for name, parameter in inspect.signature(resolve_with).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and f"sanic_service_{name}" in defaults
    }

    def resolve(services: list[dict], **keywords) -> list[dict]:
        # A copy each call: a default changed in place must not leak into the next test.
        return resolve_with(services, **{**copy.deepcopy(role_keywords), **keywords})

    return resolve


@pytest.fixture(scope="session")
def render_units():
    """`render(directory, variables, tasks_from)`: ansible-playbook on this machine resolves the
    services like the role does (`tasks_from`, with its argument spec), then renders each one's
    unit from the role's unit template into `directory`."""

    def render(directory: Path, variables: dict, tasks_from: str) -> subprocess.CompletedProcess:
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
                        "src": str(SANIC_SERVICE_ROLE / "templates" / "sanic-service.service.j2"),
                        "dest": f"{directory}/{{{{ service.unit_name }}}}",
                        "mode": "0644",
                    },
                    "loop": "{{ sanic_service_instances }}",
                    "loop_control": {"loop_var": "service"},
                },
            ],
        }
        playbook = directory / "play.yml"
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

    return render


@pytest.fixture(scope="session")
def unit_environment():
    """`environment(unit)`: the variables a rendered unit file passes, by name."""

    def environment(unit: Path) -> dict[str, str]:
        prefix = 'Environment="'
        lines = unit.read_text().splitlines()
        pairs = [line[len(prefix) : -1] for line in lines if line.startswith(prefix)]
        return dict(pair.split("=", 1) for pair in pairs)

    return environment
