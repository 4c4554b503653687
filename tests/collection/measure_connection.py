"""What one task costs on a lab container, by connection plugin and pipelining (docs/FIGURES.md,
Deploy cost). Starts one systemd container of the lab's image, runs the same playbook of module
runs through each way of connecting, in interleaved rounds (this machine is noisy: compare the
ratios of medians of one run), prints seconds per module run and the ratio to the first way.

    .venv/bin/python -m tests.collection.measure_connection [--rounds 3] [--runs-per-module 10]
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from tests.collection.containers import REPO, Fleet

# (label, connection plugin, pipelining); the first is the baseline the ratios compare with.
WAYS = [
    ("docker CLI, no pipelining (until 2026-12)", "community.docker.docker", False),
    ("docker CLI, pipelining", "community.docker.docker", True),
    ("Docker API, pipelining (the lab)", "community.docker.docker_api", True),
]
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


def timed_run(workdir: Path, connection: str, pipelining: bool) -> float:
    environment = dict(os.environ, ANSIBLE_PIPELINING=str(pipelining))
    environment["ANSIBLE_CONFIG"] = str(REPO / "ansible" / "ansible.cfg")
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventory.yml"]
    argv += ["-e", f"ansible_connection={connection}", "playbook.yml"]
    started = time.monotonic()
    result = subprocess.run(argv, cwd=workdir, env=environment, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{connection} (pipelining {pipelining}) failed:\n{result.stdout[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs-per-module", type=int, default=10)
    options = parser.parse_args()
    module_runs = options.runs_per_module * len(MODULES)
    seconds = {label: [] for label, _, _ in WAYS}
    with Fleet(["measure-connection"]) as fleet, tempfile.TemporaryDirectory() as workdir:
        host = fleet.containers["measure-connection"]
        inventory = {"all": {"hosts": {host: {}}}}
        Path(workdir, "inventory.yml").write_text(yaml.safe_dump(inventory))
        Path(workdir, "playbook.yml").write_text(yaml.safe_dump(playbook(options.runs_per_module)))
        for round_number in range(1, options.rounds + 1):
            for label, connection, pipelining in WAYS:
                seconds[label].append(timed_run(Path(workdir), connection, pipelining))
            print(f"round {round_number}: " + ", ".join(f"{s[-1]:.1f} s" for s in seconds.values()))
    baseline = statistics.median(seconds[WAYS[0][0]])
    print(f"\n{module_runs} module runs per playbook, median of {options.rounds} rounds, "
          f"load average at the end {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'way':44} {'s per module run':>17} {'ratio':>6}")
    for label, values in seconds.items():
        median = statistics.median(values)
        print(f"{label:44} {median / module_runs:17.3f} {median / baseline:6.2f}")


if __name__ == "__main__":
    main()
