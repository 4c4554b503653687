"""The lab's connection: community.docker.docker_api, commands that must print made reliable.

Under load, Docker's exec API now and then ends a command's output stream before its output came
through (community.docker issue #644, moby #27289): the command ran and exited 0, yet printed
nothing. Two commands that always print fail a task when that happens:
- the one creating a task's temporary directory (every task that copies or renders a file runs it
  first, even with pipelining): "failed to resolve remote temporary directory ... returned empty
  string". It runs again with `mkdir -p` for its last directory, so that running it again is
  harmless;
- docker_api's own `id -u && id -g` (given as bytes), which finds the user a copied file belongs
  to: "Error while determining user and group ID" when it printed nothing or only its first line
  (both seen); it only reads, and runs again as it is.
Each runs again until its output comes through. Every other command runs exactly as with
docker_api. Real hosts use SSH, which does not lose output; this plugin is for the lab's
containers only (ansible.cfg points Ansible at this folder).
"""

import re

from ansible.module_utils.common.text.converters import to_text
from ansible.utils.display import Display
from ansible_collections.community.docker.plugins.connection.docker_api import (
    Connection as DockerApiConnection,
)

# Ansible reads a plugin's options from its own DOCUMENTATION literal (parsed, not imported), so
# docker_api's options (community.docker 4.8.5) are repeated here, word for word.
DOCUMENTATION = r"""
name: lab_docker_api
short_description: community.docker.docker_api, creating temporary directories reliably
description:
  - Runs tasks in the lab's Docker containers through Docker's API, as
    community.docker.docker_api does.
  - Runs the command that creates a task's temporary directory again when its output was lost.
author:
  - sanic_prometheus.multiprocess
extends_documentation_fragment:
  - community.docker.docker.api_documentation
  - community.docker.docker.var_names
options:
  remote_user:
    type: str
    description:
      - The user to execute as inside the container.
    vars:
      - name: ansible_user
      - name: ansible_docker_user
    ini:
      - section: defaults
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
    cli:
      - name: user
    keyword:
      - name: remote_user
  remote_addr:
    type: str
    description:
      - The name of the container you want to access.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_docker_host
  container_timeout:
    default: 10
    description:
      - Controls how long we can wait to access reading output from the container once
        execution started.
    env:
      - name: ANSIBLE_TIMEOUT
      - name: ANSIBLE_DOCKER_TIMEOUT
        version_added: 2.2.0
    ini:
      - key: timeout
        section: defaults
      - key: timeout
        section: docker_connection
        version_added: 2.2.0
    vars:
      - name: ansible_docker_timeout
        version_added: 2.2.0
    cli:
      - name: timeout
    type: integer
  extra_env:
    description:
      - Provide extra environment variables to set when running commands in the Docker container.
      - This option can currently only be provided as Ansible variables due to limitations of
        ansible-core's configuration manager.
    vars:
      - name: ansible_docker_extra_env
    type: dict
    version_added: 3.12.0
  working_dir:
    description:
      - The directory inside the container to run commands in.
      - Requires Docker API version 1.35 or later.
    env:
      - name: ANSIBLE_DOCKER_WORKING_DIR
    ini:
      - key: working_dir
        section: docker_connection
    vars:
      - name: ansible_docker_working_dir
    type: string
    version_added: 3.12.0
  privileged:
    description:
      - Whether commands should be run with extended privileges.
      - B(Note) that this allows command to potentially break out of the container. Use with care!
    env:
      - name: ANSIBLE_DOCKER_PRIVILEGED
    ini:
      - key: privileged
        section: docker_connection
    vars:
      - name: ansible_docker_privileged
    type: boolean
    default: false
    version_added: 3.12.0
"""

display = Display()

# The command the `sh` shell plugin's mkdtemp() builds: `mkdir -p "`echo BASE`"&& mkdir "`echo
# BASE/NAME`" && echo NAME="`echo BASE/NAME`"`. Its second mkdir fails if the directory exists.
TEMPORARY_DIRECTORY_COMMAND = re.compile(r'&& mkdir (" *` *echo [^`]*/ansible-tmp-[^`]*`)')
# docker_api's put_file asks the container for the user's ids with this before its first copy.
USER_IDS_COMMAND = "id -u && id -g"
# Tries of such a command in all; each loss is rare, so two in a row rarer still.
TRIES = 4


def command_to_run_again(cmd, stdout):
    """What to run again when `cmd` exited 0 but did not print what it always prints (Docker lost
    its output, or the output's end), or None when `stdout` may be all it printed."""
    text = to_text(cmd, errors="surrogate_or_strict")
    if not stdout and TEMPORARY_DIRECTORY_COMMAND.search(text):
        # The directory exists now (the command exited 0): the same command with `mkdir -p`
        # succeeds again and prints the line that was lost.
        return TEMPORARY_DIRECTORY_COMMAND.sub(r"&& mkdir -p \1", text, count=1)
    if text == USER_IDS_COMMAND and len(stdout.splitlines()) != 2:
        return cmd  # it only reads: the uid, then the gid, one per line
    return None


class Connection(DockerApiConnection):
    transport = "lab_docker_api"

    def exec_command(self, cmd, in_data=None, sudoable=False):
        returncode, stdout, stderr = super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        again = None if returncode != 0 else command_to_run_again(cmd, stdout)
        if again is None:
            return returncode, stdout, stderr
        for attempt in range(2, TRIES + 1):
            display.warning(
                f"{self.get_option('remote_addr')}: {to_text(cmd)[:60]!r} printed"
                f" {to_text(stdout)!r} (Docker exec lost its output); running it again,"
                f" try {attempt}"
            )
            returncode, stdout, stderr = super().exec_command(again, sudoable=sudoable)
            if returncode != 0 or command_to_run_again(cmd, stdout) is None:
                break
        return returncode, stdout, stderr
