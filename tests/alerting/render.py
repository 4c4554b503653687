"""A role's template rendered the way the role renders it: by Ansible's template module, over the
role's defaults and the given variables; and plays run by ansible-playbook on this machine."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = Path(sys.executable).parent / "ansible"


def render_template(role: str, template: str, dest: Path, variables: dict) -> str:
    role_dir = REPO / "roles" / role
    subprocess.run(
        [
            ANSIBLE,
            "localhost",
            "--connection=local",
            "--inventory=localhost,",
            "--extra-vars",
            f"ansible_python_interpreter={sys.executable}",
            "--extra-vars",
            f"@{role_dir / 'defaults' / 'main.yml'}",
            "--extra-vars",
            json.dumps(variables),
            "--module-name=ansible.builtin.template",
            f"--args=src={role_dir / 'templates' / template} dest={dest}",
        ],
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "ANSIBLE_LOCALHOST_WARNING": "false",
        },
    )
    return dest.read_text()


def copy_role_with_noted_handler(role: str, roles_path: Path, handler: str, note: str) -> None:
    """A copy of the role under roles_path whose only handler prints `note` instead of touching a
    running service."""
    copy = roles_path / role
    shutil.copytree(REPO / "roles" / role, copy)
    (copy / "handlers" / "main.yml").write_text(
        f"- name: {handler}\n  ansible.builtin.debug:\n    msg: {note}\n"
    )


def run_plays(
    plays: list,
    variables: dict,
    roles_path: Path,
    workdir: Path,
    hosts: dict | None = None,
    groups: dict[str, list[str]] | None = None,
):
    """ansible-playbook on this machine (local connection) over `plays`, with extra `variables`;
    on localhost, or on each of `hosts` (inventory name -> its host variables): one run can then
    check several cases, each host one case. `groups` puts hosts in inventory groups."""
    playbook = workdir / "plays.yml"
    playbook.write_text(json.dumps(plays))
    inventory = "localhost,"
    if hosts is not None:
        inventory = workdir / "inventory.yml"
        children = {
            group: {"hosts": {host: {} for host in members}}
            for group, members in (groups or {}).items()
        }
        inventory.write_text(json.dumps({"all": {"hosts": hosts, "children": children}}))
    return subprocess.run(
        [
            Path(sys.executable).parent / "ansible-playbook",
            "--connection=local",
            f"--inventory={inventory}",
            "--extra-vars",
            json.dumps({"ansible_python_interpreter": sys.executable, **variables}),
            playbook,
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "ANSIBLE_ROLES_PATH": str(roles_path),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_NOCOLOR": "1",
        },
        timeout=180,
    )
