"""The lab's connection: community.docker.docker_api, with the temporary directory made reliably.

Under load, Docker's exec API now and then ends a command's output stream before its output came
through (community.docker issue #644, moby #27289): the command ran and exited 0, yet printed
nothing. When that command was the one creating a task's temporary directory (every task that
copies or renders a file runs it first, even with pipelining), Ansible fails the task with "failed
to resolve remote temporary directory ... returned empty string". This connection runs that one
command again, with `mkdir -p` for its last directory so that running it again is harmless, until
its output comes through. Every other command runs exactly as with docker_api. Real hosts use SSH,
which does not lose output; this plugin is for the lab's containers only (ansible.cfg points
Ansible at this folder).
"""

import re

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
# Tries of a temporary directory's command in all; each loss is rare, so two in a row rarer still.
TEMPORARY_DIRECTORY_TRIES = 4


class Connection(DockerApiConnection):
    transport = "lab_docker_api"

    def exec_command(self, cmd, in_data=None, sudoable=False):
        returncode, stdout, stderr = super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        if returncode != 0 or stdout or not TEMPORARY_DIRECTORY_COMMAND.search(cmd):
            return returncode, stdout, stderr
        # The directory exists now (the command exited 0): the same command with `mkdir -p`
        # succeeds again and prints the line that was lost.
        again = TEMPORARY_DIRECTORY_COMMAND.sub(r"&& mkdir -p \1", cmd, count=1)
        for attempt in range(2, TEMPORARY_DIRECTORY_TRIES + 1):
            display.warning(
                f"{self.get_option('remote_addr')}: the temporary directory's command printed"
                f" nothing (Docker exec lost its output); running it again, try {attempt}"
            )
            returncode, stdout, stderr = super().exec_command(again, sudoable=sudoable)
            if returncode != 0 or stdout:
                break
        return returncode, stdout, stderr
