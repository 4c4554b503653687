"""What a deploy costs as the fleet grows (docs/FIGURES.md, Deploy cost by fleet size; issue 28):
the bundle's site.yml against N lightweight app hosts (systemd containers of the lab's image, one
1-worker service each, no Prometheus server), this checkout's code side by side with a baseline
commit's (default: the code before app hosts with nothing to restart were deployed together),
each code on its own N containers, in one run. For each N it times, code after code:

- the first deploy (every service new; batches of `--batch`, 25% by default),
- a run that changes nothing (the default batch, one host: what operators run to check drift),
- a change that restarts every service (a new app version; batches of `--batch`),
- and, for this code's hosts only, a play of one command per host: the floor under any run that
  reaches every host, on this machine where the hosts share the control node's cores,

and prints each run's seconds, its ratio to the baseline's, the tasks per app host (`ok=` of the
recap) and how many batches the batched play ran; then the no-change run's growth from the
smallest N to the largest, and, with --chart, a PNG of the seconds by N. Every run must succeed,
the no-change run must change nothing and the change must restart every service, or the
measurement stops naming what went wrong. The connection is the lab's (docker_api through
lab_docker_api, pipelining on) for both codes; its cost per module run against SSH is in
docs/FIGURES.md (Deploy cost).

    .venv/bin/python -m tests.collection.measure_scale [--hosts 2 8 16] [--baseline REV]
        [--batch 25%] [--chart docs/figures/deploy_scale.png]
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from tests.collection.containers import REPO, Fleet

# The last commit before site.yml deployed the app hosts with nothing to restart in one pass.
BASELINE = "e1b5640"
# A recap line: host, ok, changed, unreachable, failed.
RECAP = re.compile(r"(?m)^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
# The batched play's banner, printed once per batch (once with no host when none needs it).
BATCH_BANNER = re.compile(r"(?m)^PLAY \[Deploy the Sanic services a batch of app hosts at a time")
NO_HOST = re.compile(r"(?m)^PLAY \[Deploy the Sanic services a batch[^\n]*\n+skipping: no hosts")
CONNECTION = "lab_docker_api"
FLOOR_RUN = "one command per host (floor)"
FLOOR_PLAY = [
    {
        "name": "Run one command on every app host",
        "hosts": "sanic_hosts",
        "gather_facts": False,
        "tasks": [{"name": "Run true", "ansible.builtin.command": "true", "changed_when": False}],
    }
]
SERVICE_PORT = 10010
# Every Docker container's CPU time so far, in ns (the engine's cgroupfs driver, cgroup v1).
CONTAINERS_CPU = Path("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage")
# Each systemd container holds about 7 inotify instances (systemd, journald, logind, ...), all
# counted against root's fs.inotify.max_user_instances (128 by default): past 18 containers a unit
# fails at boot and the container comes up degraded.
INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_PER_CONTAINER = 8


class Code:
    """One code's checkout (this one, or a worktree of the baseline) and its own demo app copy."""

    def __init__(self, label: str, root: Path, workdir: Path):
        self.label, self.root = label, root
        self.app_source = workdir / f"app-{label}"
        shutil.copytree(REPO / "app_instrumentation" / "demo", self.app_source)
        # Each checkout is the collection sanic_prometheus.multiprocess through its own .cache,
        # as scripts/setup.sh links it (ansible.cfg's collections_path).
        link = root / ".cache" / "collections" / "ansible_collections" / "sanic_prometheus"
        link.mkdir(parents=True, exist_ok=True)
        if not (link / "multiprocess").exists():
            (link / "multiprocess").symlink_to(root)

    def new_app_version(self, version: int) -> None:
        (self.app_source / "scale_version.txt").write_text(f"{version}\n")


def baseline_checkout(revision: str, workdir: Path) -> Path:
    root = workdir / "baseline"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(root), revision],
        check=True,
        capture_output=True,
    )
    return root


def write_inventory(path: Path, hosts: list[str], code: Code, cache_dir: Path) -> None:
    service = {
        "name": "scale",
        "factory": "app.server:create_app",
        "port": SERVICE_PORT,
        "app_source": str(code.app_source),
        "workers": 1,
    }
    inventory = {
        "sanic_hosts": {
            "hosts": {host: {} for host in hosts},
            "vars": {
                "ansible_connection": CONNECTION,
                "ansible_python_interpreter": "/usr/bin/python3",
                "sanic_service_cache_dir": str(cache_dir),
                "sanic_services": [service],
            },
        },
        "prometheus_servers": {"hosts": {}},
    }
    path.write_text(yaml.safe_dump(inventory))


def run_site(
    code: Code, inventory: Path, forks: int, *options: str, playbook: str = "site.yml"
) -> tuple[float, dict, str]:
    environment = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    environment["ANSIBLE_CONFIG"] = str(code.root / "ansible" / "ansible.cfg")
    environment["ANSIBLE_ROLES_PATH"] = str(code.root / "roles")
    # The lab's connection for both codes (the baseline's configuration predates it).
    environment["ANSIBLE_CONNECTION_PLUGINS"] = str(REPO / "ansible" / "plugins" / "connection")
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), playbook, "-i", str(inventory)]
    argv += ["--forks", str(forks), *options]
    started, cpu_before = time.monotonic(), cpu_seconds()
    result = subprocess.run(
        argv, cwd=code.root / "ansible", env=environment, capture_output=True, text=True
    )
    seconds = time.monotonic() - started
    cpu = {part: used - cpu_before[part] for part, used in cpu_seconds().items()}
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"{code.label}: site.yml {' '.join(options)} failed:\n{output[-3000:]}")
    return seconds, cpu, output


def measure_floor(code: Code, hosts: list[str], inventory: Path, forks: int, workdir: Path) -> dict:
    """One command on each of `hosts`, nothing else: the least any run that reaches every app
    host costs here, with the same connection and forks. How it grows with N bounds how slowly
    site.yml's no-change run can grow on this machine, where the hosts share its cores."""
    playbook = workdir / "floor.yml"
    playbook.write_text(yaml.safe_dump(FLOOR_PLAY, sort_keys=False))
    seconds, cpu, output = run_site(code, inventory, forks, playbook=str(playbook))
    tasks = sorted({ok for ok, _ in recap(output, hosts).values()})
    busy = (cpu["control"] + cpu["hosts"]) / seconds
    print(
        f"  N={len(hosts):<3} {FLOOR_RUN:32} {code.label:9} {seconds:7.1f} s  tasks per host"
        f" {'-'.join(map(str, tasks)):>9}  CPU s control {cpu['control']:.1f}"
        f" + hosts {cpu['hosts']:.1f}: {busy:.1f} cores busy",
        flush=True,
    )
    return {"hosts": len(hosts), "seconds": seconds, "cpu": cpu, "tasks": tasks}


def cpu_seconds() -> dict:
    """CPU seconds so far of the control node's finished runs (ansible-playbook and its forks,
    all waited for) and of every container (the app hosts' modules and services)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    hosts = int(CONTAINERS_CPU.read_text()) / 1e9 if CONTAINERS_CPU.exists() else float("nan")
    return {"control": children.ru_utime + children.ru_stime, "hosts": hosts}


def raise_inotify_limit(containers: int):
    """Raises root's inotify instance limit for `containers` systemd containers; returns the old
    value to put back, or None when it sufficed."""
    old, needed = int(INOTIFY_LIMIT.read_text()), containers * INOTIFY_PER_CONTAINER + 64
    if old >= needed:
        return None
    INOTIFY_LIMIT.write_text(f"{needed}\n")
    print(
        f"fs.inotify.max_user_instances raised from {old} to {needed} for {containers}"
        " systemd containers (put back at the end)",
        flush=True,
    )
    return old


def recap(output: str, hosts: list[str]) -> dict:
    rows = {host: (int(ok), int(changed)) for host, ok, changed, _, _ in RECAP.findall(output)}
    missing = [host for host in hosts if host not in rows]
    if missing:
        raise SystemExit(f"no recap line for {missing}:\n{output[-2000:]}")
    return rows


def main_pids(fleet: Fleet, hosts: list[str]) -> dict:
    unit = "sanic-scale.service"
    return {
        host: fleet.run(host, "systemctl", "show", "-P", "MainPID", unit).stdout.strip()
        for host in hosts
    }


def warm_up(codes, hosts_of, inventories, forks):
    """Each code builds its wheelhouse once, untimed (the first deploy of a later N would find it
    cached): the checks and the build of one host, which change nothing on it."""
    for code in codes:
        seconds, _, _ = run_site(
            code,
            inventories[code.label],
            forks,
            "--tags",
            "preflight,build",
            "--limit",
            hosts_of[code.label][0],
        )
        print(f"  {code.label}: checks and wheelhouse build, untimed ({seconds:.0f} s)", flush=True)


def measure(fleet, codes, hosts_of, n, inventories, forks, batch, version):
    """The three runs for each code on its own `n` hosts; one row per run and code."""
    rows = []
    runs = [
        ("first deploy", batch, lambda code: None),
        ("no change", "1 (default)", lambda code: None),
        ("change, every service restarts", batch, lambda code: code.new_app_version(version)),
    ]
    for name, batch_label, prepare in runs:
        for code in codes:
            hosts = hosts_of[code.label]
            prepare(code)
            before = main_pids(fleet, hosts)
            options = [] if batch_label.startswith("1 ") else ["-e", f"sanic_deploy_batch={batch}"]
            seconds, cpu, output = run_site(code, inventories[code.label], forks, *options)
            per_host = recap(output, hosts)
            after = main_pids(fleet, hosts)
            restarted = sum(before[host] != after[host] for host in hosts)
            changed_hosts = sum(changed > 0 for _, changed in per_host.values())
            if name == "no change" and (changed_hosts or restarted):
                raise SystemExit(
                    f"{code.label}: the no-change run changed {changed_hosts} hosts,"
                    f" restarted {restarted} services"
                )
            if name != "no change" and restarted != n:
                raise SystemExit(f"{code.label}: {name} restarted {restarted} of {n} services")
            tasks = sorted({ok for ok, _ in per_host.values()})
            batches = len(BATCH_BANNER.findall(output)) - len(NO_HOST.findall(output))
            busy = (cpu["control"] + cpu["hosts"]) / seconds
            rows.append(
                {
                    "busy": busy,
                    "hosts": n,
                    "run": name,
                    "batch": batch_label,
                    "code": code.label,
                    "seconds": seconds,
                    "tasks": tasks,
                    "batches": batches,
                    "restarted": restarted,
                }
            )
            print(
                f"  N={n:<3} {name:32} {code.label:9} {seconds:7.1f} s  tasks per host"
                f" {'-'.join(map(str, tasks)):>9}  batches {batches:>2}  restarted {restarted}"
                f"  CPU s control {cpu['control']:.0f} + hosts {cpu['hosts']:.0f}:"
                f" {busy:.1f} cores busy",
                flush=True,
            )
    return rows


def report(rows, floors, codes, forks_of, batch):
    baseline, current = (code.label for code in codes)
    print(
        f"\nconnection {CONNECTION} (Docker API), pipelining on; forks per N: {forks_of};"
        f" load average at the end {os.getloadavg()[0]:.1f}"
    )
    header = (
        f"{'hosts':>5}  {'run':32} {'batch':>11}  {baseline + ' s':>11} {current + ' s':>11}"
        f" {'ratio':>6}  {'tasks/host':>17}  {'cores busy':>10}"
    )
    print(header)
    keyed = {(row["hosts"], row["run"], row["code"]): row for row in rows}
    for n, name in dict.fromkeys((row["hosts"], row["run"]) for row in rows):
        old, new = keyed[(n, name, baseline)], keyed[(n, name, current)]
        tasks = f"{'-'.join(map(str, old['tasks']))} / {'-'.join(map(str, new['tasks']))}"
        print(
            f"{n:>5}  {name:32} {old['batch']:>11}  {old['seconds']:11.1f}"
            f" {new['seconds']:11.1f} {new['seconds'] / old['seconds']:6.2f}  {tasks:>17}"
            f"  {old['busy']:4.1f} / {new['busy']:3.1f}"
        )
    sizes = sorted({row["hosts"] for row in rows})
    if len(sizes) > 1:
        for code in (baseline, current):
            small = keyed[(sizes[0], "no change", code)]["seconds"]
            large = keyed[(sizes[-1], "no change", code)]["seconds"]
            print(
                f"no-change run, {code}: {sizes[-1]} hosts take {large / small:.2f}x the time"
                f" of {sizes[0]}"
            )
    for floor in floors:
        control, hosts = floor["cpu"]["control"], floor["cpu"]["hosts"]
        print(
            f"{floor['hosts']:>5}  {FLOOR_RUN:32} {'':>11}  {'':>11} {floor['seconds']:11.1f}"
            f"  CPU s control {control:.1f} ({control / floor['hosts']:.2f} per host)"
            f" + hosts {hosts:.1f} ({hosts / floor['hosts']:.2f} per host)"
        )
    if len(floors) > 1:
        print(
            f"{FLOOR_RUN}: {floors[-1]['hosts']} hosts take"
            f" {floors[-1]['seconds'] / floors[0]['seconds']:.2f}x the time of {floors[0]['hosts']}"
        )
    print(
        f"(batch {batch} for the first deploy and the change; the no-change run uses the"
        f" default, one host per batch; cores busy: CPU seconds of the control node and the"
        f" containers per second of the run, of {os.cpu_count()} cores)"
    )


def write_chart(path: Path, rows, codes) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    sizes = sorted({row["hosts"] for row in rows})
    figure, axes = pyplot.subplots(figsize=(7, 4))
    for name, style in (("no change", "-"), ("change, every service restarts", "--")):
        for code in codes:
            seconds = [
                next(
                    row["seconds"]
                    for row in rows
                    if (row["hosts"], row["run"], row["code"]) == (n, name, code.label)
                )
                for n in sizes
            ]
            axes.plot(sizes, seconds, style, marker="o", label=f"{name}, {code.label}")
    axes.set(xlabel="app hosts", ylabel="seconds", title="site.yml by fleet size", xticks=sizes)
    axes.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[2, 8, 16])
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--batch", default="25%")
    parser.add_argument("--chart", type=Path)
    options = parser.parse_args()
    rows, floors, forks_of = [], [], {}
    old_inotify_limit = raise_inotify_limit(2 * max(options.hosts))
    with tempfile.TemporaryDirectory(prefix="measure-scale-") as scratch:
        workdir = Path(scratch)
        baseline_root = baseline_checkout(options.baseline, workdir)
        try:
            codes = [
                Code(f"baseline {options.baseline}", baseline_root, workdir),
                Code("this code", REPO, workdir),
            ]
            for version, n in enumerate(options.hosts, start=1):
                # Every app host's tasks at once: more forks than hosts would change nothing.
                forks = forks_of[n] = max(8, n)
                names = [f"{side}{index}" for side in "bc" for index in range(1, n + 1)]
                with Fleet(names, prefix="scale") as fleet:
                    hosts_of, inventories = {}, {}
                    for code, side in zip(codes, "bc", strict=True):
                        hosts_of[code.label] = [
                            fleet.containers[f"{side}{i}"] for i in range(1, n + 1)
                        ]
                        inventories[code.label] = workdir / f"inventory-{side}-{n}.yml"
                        # A cache per code: a run prunes what its own hosts do not hold.
                        write_inventory(
                            inventories[code.label],
                            hosts_of[code.label],
                            code,
                            workdir / f"cache-{side}",
                        )
                    print(f"N={n}: {2 * n} containers up; each code on its own {n}", flush=True)
                    if n == options.hosts[0]:
                        warm_up(codes, hosts_of, inventories, forks)
                    rows += measure(
                        fleet, codes, hosts_of, n, inventories, forks, options.batch, version
                    )
                    current = codes[-1]
                    floors.append(
                        measure_floor(
                            current,
                            hosts_of[current.label],
                            inventories[current.label],
                            forks,
                            workdir,
                        )
                    )
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline_root)],
                check=False,
            )
            if old_inotify_limit is not None:
                INOTIFY_LIMIT.write_text(f"{old_inotify_limit}\n")
    report(rows, floors, codes, forks_of, options.batch)
    if options.chart:
        write_chart(options.chart, rows, codes)
        print(f"chart written to {options.chart}")


if __name__ == "__main__":
    main()
