"""Every task file a play or a test runs alone (include_role with tasks_from) is an entry point of
its role's meta/argument_specs.yml, named exactly (without `.yml`, which would skip Ansible's
validation), documented by a description of its own; one that acts on the resolved services
refuses to run without them, naming the variable."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(path.parents[1].name for path in REPO.glob("roles/*/meta/argument_specs.yml"))
PLAY_FOLDERS = ("ansible", "playbooks", "molecule")


def argument_specs(role: str) -> dict:
    path = REPO / "roles" / role / "meta" / "argument_specs.yml"
    return yaml.safe_load(path.read_text())["argument_specs"]


def role_includes(node):
    """Every include_role or import_role in a parsed YAML document, however deeply nested."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith(("include_role", "import_role")) and isinstance(value, dict):
                yield value
            yield from role_includes(value)
    elif isinstance(node, list):
        for item in node:
            yield from role_includes(item)


def callers():
    found = []
    for folder in PLAY_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.yml")):
            for include in role_includes(yaml.safe_load(path.read_text())):
                if "tasks_from" in include:
                    found.append((str(path.relative_to(REPO)), include))
    return found


CALLERS = callers()


def test_the_callers_found_include_site_yml_checks():
    """The search finds what it checks: site.yml's plays run these roles' steps alone."""
    site_steps = {
        include["tasks_from"] for path, include in CALLERS if path == "playbooks/site.yml"
    }
    assert site_steps == {
        "variables",
        "prepare",
        "plan",
        "rollback_check",
        "scrape_targets",
        "prune_cache",
    }


@pytest.mark.parametrize(("path", "include"), CALLERS, ids=[path for path, _ in CALLERS])
def test_every_step_a_play_runs_alone_is_an_entry_point_of_its_role(path, include):
    role = include["name"].rpartition(".")[2]
    assert include["tasks_from"] in argument_specs(role), f"{path}: {include}"


@pytest.mark.parametrize("role", ROLES)
def test_every_entry_point_is_a_task_file_with_a_description_of_its_own(role):
    specs = argument_specs(role)
    for name, spec in specs.items():
        assert (REPO / "roles" / role / "tasks" / f"{name}.yml").is_file(), name
        if name != "main":
            assert spec["short_description"] != specs["main"]["short_description"], name


@pytest.mark.parametrize(
    "entry_point", ["health", "directory", "unit", "cleanup", "scrape_targets"]
)
def test_a_step_on_the_resolved_services_refuses_to_run_without_them(entry_point, tmp_path):
    include = {"name": "sanic_service", "tasks_from": entry_point}
    plays = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [{"ansible.builtin.include_role": include}],
        }
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps(plays))
    result = subprocess.run(
        [
            Path(sys.executable).parent / "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            playbook,
        ],
        env={**os.environ, "ANSIBLE_ROLES_PATH": str(REPO / "roles"), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 2, result.stdout
    assert f"Validating arguments against arg spec '{entry_point}'" in result.stdout
    assert "missing required arguments: sanic_service_instances" in result.stdout
