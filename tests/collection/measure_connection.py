"""What one task costs on a lab container, by connection plugin and pipelining (docs/FIGURES.md,
Deploy cost). Starts one systemd container of the lab's image, installs an SSH server in it (from
Debian's archive), runs the same playbook of module runs through each way of connecting, in
interleaved rounds (this machine is noisy: compare the ratios of medians of one run), prints
seconds per module run and the ratio to the first way. Then, with --echo-runs N, runs `echo` N
times through each way, as a module (pipelined: its code goes in on stdin) and raw (no stdin),
and counts the runs whose output did not come back (community.docker #644).

    .venv/bin/python -m tests.collection.measure_connection [--rounds 3] [--runs-per-module 10]
        [--echo-runs 0]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from tests.collection.containers import REPO, Fleet, docker

# (label, connection plugin, pipelining); the first is the baseline the ratios compare with.
WAYS = [
    ("docker CLI, no pipelining (until 2026-12)", "community.docker.docker", False),
    ("docker CLI, pipelining", "community.docker.docker", True),
    ("Docker API, pipelining (the lab)", "community.docker.docker_api", True),
    ("SSH, pipelining (real hosts)", "ssh", True),
]
SSH_KEY = "id_measure"
# A read, a command and a write: the kinds of module runs a deploy is made of.
MODULES = [
    {"ansible.builtin.stat": {"path": "/etc/hostname"}},
    {"ansible.builtin.command": "true", "changed_when": False},
    {"ansible.builtin.copy": {"dest": "/tmp/measure-{{ item }}", "content": "x", "mode": "0644"}},
]


def playbook(runs_per_module: int) -> list:
    tasks = [
        {"name": f"module {index}", **module, "loop": list(range(runs_per_module))}
        for index, module in enumerate(MODULES)
    ]
    return [{"hosts": "all", "gather_facts": False, "tasks": tasks}]


def echo_playbook(runs: int) -> list:
    """`echo` as a pipelined module and raw, each failure kept instead of stopping the play."""
    tasks = [
        {
            "name": name,
            **task,
            "loop": list(range(runs)),
            "register": register,
            "ignore_errors": True,
            "ignore_unreachable": True,
            "changed_when": False,
        }
        for name, task, register in (
            ("module", {"ansible.builtin.command": "echo {{ item }}"}, "module_runs"),
            ("raw", {"ansible.builtin.raw": "echo {{ item }}"}, "raw_runs"),
        )
    ]
    # A run whose output is not its own number lost it (or failed: no stdout at all).
    count = (
        "{% set lost = namespace(module=0, raw=0) %}"
        "{% for run in module_runs.results %}{% if run.stdout | default('') | trim"
        " != run.item | string %}{% set lost.module = lost.module + 1 %}{% endif %}{% endfor %}"
        "{% for run in raw_runs.results %}{% if run.stdout | default('') | trim"
        " != run.item | string %}{% set lost.raw = lost.raw + 1 %}{% endif %}{% endfor %}"
        "LOST module={{ lost.module }} raw={{ lost.raw }}"
    )
    tasks.append({"name": "Lost outputs", "ansible.builtin.debug": {"msg": count}})
    return [{"hosts": "all", "gather_facts": False, "tasks": tasks}]


def ansible_playbook(workdir: Path, connection: str, pipelining: bool, playbook_file: str):
    environment = dict(os.environ, ANSIBLE_PIPELINING=str(pipelining))
    environment["ANSIBLE_CONFIG"] = str(REPO / "ansible" / "ansible.cfg")
    environment["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventory.yml"]
    argv += ["-e", f"ansible_connection={connection}", playbook_file]
    return subprocess.run(argv, cwd=workdir, env=environment, capture_output=True, text=True)


def timed_run(workdir: Path, connection: str, pipelining: bool) -> float:
    started = time.monotonic()
    result = ansible_playbook(workdir, connection, pipelining, "playbook.yml")
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{connection} (pipelining {pipelining}) failed:\n{result.stdout[-2000:]}")
    return seconds


def lost_outputs(workdir: Path, connection: str, pipelining: bool) -> dict:
    result = ansible_playbook(workdir, connection, pipelining, "echo.yml")
    found = re.search(r"LOST module=(\d+) raw=(\d+)", result.stdout)
    if found is None:
        raise SystemExit(f"{connection}: no count of lost outputs:\n{result.stdout[-2000:]}")
    return {"module": int(found[1]), "raw": int(found[2])}


def serve_ssh(fleet: Fleet, container: str, workdir: Path) -> str:
    """An SSH server in the container that takes the key made in `workdir`; returns its address."""
    installed = fleet.run(
        container, "sh", "-c", "apt-get update -q && apt-get install -qy openssh-server"
    )
    if installed.returncode != 0:
        raise SystemExit(
            f"openssh-server did not install: {installed.stdout[-1000:]}{installed.stderr}"
        )
    key = workdir / SSH_KEY
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text().strip()
    script = f"mkdir -p -m 700 /root/.ssh && echo '{public}' > /root/.ssh/authorized_keys"
    assert fleet.run(container, "sh", "-c", script).returncode == 0
    assert fleet.run(container, "systemctl", "restart", "ssh").returncode == 0
    inspected = docker("inspect", container).stdout
    return json.loads(inspected)[0]["NetworkSettings"]["Networks"][fleet.name]["IPAddress"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs-per-module", type=int, default=10)
    parser.add_argument("--echo-runs", type=int, default=0)
    options = parser.parse_args()
    module_runs = options.runs_per_module * len(MODULES)
    seconds = {label: [] for label, _, _ in WAYS}
    lost = {}
    with Fleet(["measure-connection"]) as fleet, tempfile.TemporaryDirectory() as workdir:
        host = fleet.containers["measure-connection"]
        address = serve_ssh(fleet, host, Path(workdir))
        # The Docker connections find the container by its name, SSH by its address.
        ssh_variables = {"ansible_host": address, "ansible_user": "root"}
        ssh_variables["ansible_ssh_private_key_file"] = str(Path(workdir) / SSH_KEY)
        inventory = {"all": {"hosts": {host: {}}}}
        Path(workdir, "playbook.yml").write_text(yaml.safe_dump(playbook(options.runs_per_module)))
        Path(workdir, "echo.yml").write_text(yaml.safe_dump(echo_playbook(options.echo_runs)))
        for round_number in range(1, options.rounds + 1):
            for label, connection, pipelining in WAYS:
                inventory["all"]["hosts"][host] = ssh_variables if connection == "ssh" else {}
                Path(workdir, "inventory.yml").write_text(yaml.safe_dump(inventory))
                seconds[label].append(timed_run(Path(workdir), connection, pipelining))
            print(f"round {round_number}: " + ", ".join(f"{s[-1]:.1f} s" for s in seconds.values()))
        if options.echo_runs:
            for label, connection, pipelining in WAYS[1:]:
                inventory["all"]["hosts"][host] = ssh_variables if connection == "ssh" else {}
                Path(workdir, "inventory.yml").write_text(yaml.safe_dump(inventory))
                lost[label] = lost_outputs(Path(workdir), connection, pipelining)
    baseline = statistics.median(seconds[WAYS[0][0]])
    print(f"\n{module_runs} module runs per playbook, median of {options.rounds} rounds, "
          f"load average at the end {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'way':44} {'s per module run':>17} {'ratio':>6}")
    for label, values in seconds.items():
        median = statistics.median(values)
        print(f"{label:44} {median / module_runs:17.3f} {median / baseline:6.2f}")
    if lost:
        print(
            f"\noutputs lost of {options.echo_runs} echo runs each,"
            f" load average {os.getloadavg()[0]:.1f}"
        )
        print(f"{'way':44} {'module':>7} {'raw':>7}")
        for label, counts in lost.items():
            print(f"{label:44} {counts['module']:7} {counts['raw']:7}")


if __name__ == "__main__":
    main()
