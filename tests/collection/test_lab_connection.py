"""The lab's connection (ansible/plugins/connection/lab_docker_api.py) against a real container
whose shell loses the output of the first command that creates a task's temporary directory, or
all or the end of docker_api's `id -u && id -g` before a copy, as Docker's exec API now and then
does under load (community.docker #644): community.docker's docker_api then fails the task; the
lab's connection runs the command again and the task passes."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.collection.containers import Fleet

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
# Where the injected loss leaves its mark, once: the shell drops one such command's output only.
LOST_ONCE = "/tmp/command-output-lost"
# /bin/sh, which the connection runs every command with, as a wrapper around dash that loses the
# first output of a command matching PATTERN as LOSS does: it runs and exits 0, printing less.
LOSSY_SHELL = f"""#!/bin/dash
case "$2" in
  PATTERN)
    if [ "$1" = -c ] && [ ! -e {LOST_ONCE} ]; then
      : > {LOST_ONCE}
      /bin/dash "$@" | LOSS
      exit 0
    fi ;;
esac
exec /bin/dash "$@"
"""
# The command whose output is lost (a shell pattern), what is lost (a filter of its output), and
# how docker_api fails the task then.
NO_TEMPORARY_DIRECTORY = "failed to resolve remote temporary directory"
NO_USER_IDS = "Error while determining user and group ID"
LOSSES = {
    "temporary directory": ("*ansible-tmp-*", "cat > /dev/null", NO_TEMPORARY_DIRECTORY),
    "user ids": ('"id -u && id -g"', "cat > /dev/null", NO_USER_IDS),
    "user ids, second line": ('"id -u && id -g"', "head -n 1", NO_USER_IDS),
}
# A task that needs a temporary directory even with pipelining: it copies a file.
PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Copy a file, which makes a temporary directory first
      ansible.builtin.copy:
        content: copied
        dest: /tmp/copied
"""


@pytest.fixture(scope="module")
def container():
    with Fleet(["host"], prefix="labconn") as fleet:
        yield fleet, fleet.containers["host"]


def run_with_lossy_shell(fleet, host, tmp_path, connection, loss):
    """ansible-playbook with `connection` after the host's shell was made to lose one output."""
    install = f"rm -f {LOST_ONCE} /tmp/copied /bin/sh && cat > /bin/sh && chmod 755 /bin/sh"
    pattern, lossy_filter, _ = LOSSES[loss]
    shell = LOSSY_SHELL.replace("PATTERN", pattern).replace("LOSS", lossy_filter)
    subprocess.run(["docker", "exec", "-i", host, "dash", "-c", install],
                   input=shell, text=True, check=True)  # fmt: skip
    playbook = tmp_path / "copy.yml"
    playbook.write_text(PLAYBOOK)
    try:
        return subprocess.run(
            [str(ANSIBLE_PLAYBOOK), "-i", f"{host},", "-e", f"ansible_connection={connection}",
             "-e", "ansible_python_interpreter=/usr/bin/python3", str(playbook)],
            capture_output=True, text=True, timeout=300, check=False,
            env={"ANSIBLE_CONFIG": str(REPO / "ansible" / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                 "PATH": f"{ANSIBLE_PLAYBOOK.parent}:/usr/bin:/bin"},
        )  # fmt: skip
    finally:
        fleet.run(host, "ln", "-sf", "dash", "/bin/sh")


@pytest.mark.parametrize("loss", LOSSES)
def test_docker_api_fails_the_task_when_the_output_is_lost(container, tmp_path, loss):
    """The injected loss reproduces the failure the lab's connection is for."""
    fleet, host = container
    result = run_with_lossy_shell(fleet, host, tmp_path, "community.docker.docker_api", loss)
    assert result.returncode != 0
    assert LOSSES[loss][2] in result.stdout + result.stderr
    assert fleet.run(host, "test", "-e", LOST_ONCE).returncode == 0


@pytest.mark.parametrize("loss", LOSSES)
def test_the_lab_connection_runs_the_command_again_and_the_task_passes(container, tmp_path, loss):
    fleet, host = container
    result = run_with_lossy_shell(fleet, host, tmp_path, "lab_docker_api", loss)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Docker exec lost its output); running it again, try 2" in output
    assert "try 3" not in output
    assert fleet.run(host, "test", "-e", LOST_ONCE).returncode == 0
    assert fleet.run(host, "cat", "/tmp/copied").stdout == "copied"
