"""The phases of site.yml (the collection's playbooks/site.yml) are tags (preflight, build,
install, configure, deploy, scrape): what `ansible-playbook --list-tasks --tags PHASE` selects on
the lab inventory (which needs no host), and the includes of sanic_service, whose tags reach the
included tasks only through `apply`."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PHASES = ["preflight", "build", "install", "configure", "deploy", "scrape"]
TASKS = REPO / "roles/sanic_service/tasks"
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
APP_HOST_CHECKS = (
    "Check every app host's services and build their wheelhouses (the deploy play skips this)"
)
TASK_LINE = re.compile(r"^ {6}(?P<name>.+?)\tTAGS: \[(?P<tags>[^\]]*)\]$", re.MULTILINE)


def listed_tasks(*arguments: str) -> list[tuple[str, set[str]]]:
    """Each task of site.yml that ansible-playbook --list-tasks shows, with its tags."""
    result = subprocess.run(
        [PLAYBOOK, "site.yml", "--list-tasks", *arguments],
        cwd=REPO / "ansible",
        env={**os.environ, "ANSIBLE_ROLES_PATH": str(REPO / "roles")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [
        (match["name"], {tag.strip() for tag in match["tags"].split(",") if tag.strip()})
        for match in TASK_LINE.finditer(result.stdout)
    ]


def test_tags_preflight_lists_only_checks_of_every_host_group():
    tasks = listed_tasks("--tags", "preflight")
    assert all(tags & {"preflight", "always"} for _, tags in tasks), tasks
    names = [name for name, _ in tasks]
    for check in (
        "Assert the service manager is systemd",
        "Check the variables of prometheus_server (its argument specs, then its own checks)",
        "Check the variables of sanic_scrape_job (its argument specs, then its own checks)",
        APP_HOST_CHECKS,
        "sanic_prometheus.multiprocess.prometheus_server : Assert the host is Debian, whose"
        " package layout (/etc/default/prometheus) the role uses",
    ):
        assert check in names
    changes = [name for name, tags in tasks if "always" not in tags]
    assert not [name for name in changes if re.search(r"Install|Write|Create|Add the", name)]


@pytest.mark.parametrize("phase", PHASES)
def test_each_phase_runs_every_check_play_before_its_first_change(phase):
    tasks = listed_tasks("--tags", phase)
    names = [name for name, _ in tasks]
    changes = [i for i, (_, tags) in enumerate(tasks) if not tags & {"preflight", "always"}]
    first_change = changes[0] if changes else len(tasks)
    assert all(phase in tasks[i][1] for i in changes)
    assert names.index(APP_HOST_CHECKS) < first_change


def includes(path: Path) -> list[dict]:
    return [
        task for task in yaml.safe_load(path.read_text()) if "ansible.builtin.include_tasks" in task
    ]


@pytest.mark.parametrize("tasks_file", ["main.yml", "prepare.yml"])
def test_every_include_of_the_role_applies_its_phase_tags_to_the_included_tasks(tasks_file):
    for task in includes(TASKS / tasks_file):
        include = task["ansible.builtin.include_tasks"]
        # The rollback is no phase of a deploy: it runs only when asked for by name.
        on_request = task["tags"] == ["rollback", "never"]
        assert set(task["tags"]) <= set(PHASES) or on_request, task["name"]
        if isinstance(include, dict):
            assert include["apply"]["tags"] == [tag for tag in task["tags"] if tag != "never"]
        else:
            # Only prepare.yml is included plainly: its own includes carry the tags.
            assert include == "prepare.yml"


def test_the_checks_run_with_every_phase_and_the_builds_with_those_that_use_them():
    by_file = {
        (task["ansible.builtin.include_tasks"]["file"]): set(task["tags"])
        for task in includes(TASKS / "prepare.yml")
    }
    assert by_file == {"preflight.yml": set(PHASES), "build.yml": {"build", "install", "deploy"}}


@pytest.mark.parametrize("page", ["roles/sanic_service/README.md", "docs/OPERATIONS.md"])
def test_the_manual_names_every_phase_tag(page):
    text = (REPO / page).read_text()
    for phase in PHASES:
        assert f"`{phase}`" in text
    assert "--tags preflight" in text


def test_site_yml_includes_each_role_under_an_argument_spec_entry_point():
    """Ansible validates an include_role against the entry point named exactly like tasks_from
    (`prepare`, not `prepare.yml`): the check plays validate the role variables they run with."""
    plays = yaml.safe_load((REPO / "playbooks/site.yml").read_text())
    included = [
        task["ansible.builtin.include_role"]
        for play in plays
        for task in play.get("tasks", [])
        if "ansible.builtin.include_role" in task
    ]
    # Each role of the Prometheus play, the store's and the app hosts', by the collection's names.
    assert {include["name"] for include in included} == {
        f"sanic_prometheus.multiprocess.{role}"
        for role in (
            "alertmanager",
            "prometheus_server",
            "sanic_scrape_job",
            "sanic_service",
            "victoria_metrics",
        )
    }
    for include in included:
        role = include["name"].rpartition(".")[2]
        specs = yaml.safe_load((REPO / "roles" / role / "meta/argument_specs.yml").read_text())
        assert include["tasks_from"] in specs["argument_specs"], include
