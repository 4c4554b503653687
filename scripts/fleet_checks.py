#!/usr/bin/env python3
"""Runs the fleet's checks (molecule/default/checks.yml) against the converged fleet.

Each check is one `ansible-playbook` run of its playbook with the lab's inventory and the bundle's
own configuration, its output in .cache/fleet-checks/<name>.log. Checks start in the manifest's
order, side by side where their declared resources allow: reads share a resource, a change holds
it alone, and a claim on a path covers every path below it. A check never starts before an earlier
one that it clashes with, so a long check waiting for its resources is not overtaken for ever.
Prints each check's duration as it ends, then a table of all of them and the ten slowest; exits 1
naming every failed check.

  scripts/fleet_checks.py                      every check
  scripts/fleet_checks.py alerting crash_loop  these only
  scripts/fleet_checks.py --changing-nothing   those that change nothing (beside idempotence)
  scripts/fleet_checks.py --changing-something the others
  scripts/fleet_checks.py --skip check_mode    all but these
  scripts/fleet_checks.py --list               the checks and what each reads and changes
"""

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "molecule" / "default" / "checks.yml"
LOG_DIR = REPO / ".cache" / "fleet-checks"
# Lines of a failed check's log printed with its failure: its failed task and the recap.
FAILURE_TAIL_LINES = 60
# A failed task in a check's log, as ansible-core 2.19's default callback prints it: the task's
# banner, then an "[ERROR]: Task failed: ..." line whose first line holds the message.
FAILED_TASK = re.compile(
    r"(?m)^TASK \[(?P<task>[^\n]*?)\] \**\n(?:(?!TASK \[)[^\n]*\n)*?\[ERROR\]: (?P<error>[^\n]*)"
)
# How much of each failed task's message the summary keeps: a message may hold a whole /metrics.
FAILED_TASK_MESSAGE_CHARS = 400
# What a failure of the way into a container prints, not one of the check's own: the Docker
# connection's exec now and then returns no output under load (community.docker issue #644, moby
# #27289). Either the task fails before it ran (no temporary directory), or a command ran and its
# output never came back, so reading it as JSON finds nothing (every JSON-printing command of the
# bundle prints at least [] or {}; the bad_input check's nested site.yml run failed so, at load
# average 15, 2026-12-07). A module whose output never came back fails as "cannot use a string
# pattern on a bytes-like object": ansible-core 2.19 cannot read it as JSON, then trips over the
# connection's bytes while it looks for a missing interpreter in it
# (ansible/plugins/action/__init__.py, _parse_returned_data; check_mode's nested site.yml run,
# unarchive in check mode, 2026-12-07). Such a check runs once more, from its start (every check
# can run again); the retry and the first attempt's log are printed. A fault of the check itself
# fails both attempts.
TRANSPORT_FAILURE = re.compile(
    r"failed to resolve remote temporary directory from .* returned empty string"
    r"|from_json' failed: Expecting value: line 1 column 1 \(char 0\)"
    r"|Task failed: cannot use a string pattern on a bytes-like object"
)


class ManifestError(ValueError):
    """The manifest names something that cannot be run or scheduled."""


def flatten(items):
    """Resource lists may nest (YAML anchors reuse a list inside another)."""
    for item in items:
        if isinstance(item, list):
            yield from flatten(item)
        else:
            yield item


@dataclass(eq=False)
class Check:
    name: str
    playbook: Path
    about: str
    reads: frozenset
    changes: frozenset
    process: subprocess.Popen | None = None
    started: float = 0.0
    seconds: float = 0.0
    status: str = "not run"
    log: Path = field(default=None)
    attempts: int = 0

    def clashes_with(self, other):
        """A change clashes with a read or a change of its path, or of one above or below it."""
        mine = [(path, True) for path in self.changes] + [(path, False) for path in self.reads]
        theirs = [(path, True) for path in other.changes] + [(path, False) for path in other.reads]
        return any(
            (my_change or their_change) and overlap(my_path, their_path)
            for my_path, my_change in mine
            for their_path, their_change in theirs
        )


def overlap(path, other):
    return path == other or path.startswith(other + "/") or other.startswith(path + "/")


def load_manifest(path=MANIFEST):
    document = yaml.safe_load(path.read_text())
    checks, names = [], set()
    for index, entry in enumerate(document.get("checks") or []):
        where = f"{path.name}: checks[{index}]"
        missing = {"name", "playbook", "about", "reads", "changes"} - set(entry)
        if missing:
            raise ManifestError(f"{where} has no {', '.join(sorted(missing))}")
        if entry["name"] in names:
            raise ManifestError(f"{where}: the name {entry['name']!r} is used twice")
        playbook = path.parent / entry["playbook"]
        if not playbook.is_file():
            raise ManifestError(f"{where} ({entry['name']}): no playbook {playbook}")
        names.add(entry["name"])
        checks.append(
            Check(
                name=entry["name"],
                playbook=playbook,
                about=entry["about"],
                reads=frozenset(flatten(entry["reads"])),
                changes=frozenset(flatten(entry["changes"])),
            )
        )
    if not checks:
        raise ManifestError(f"{path} lists no checks")
    return checks


def select(checks, names, skip, changing):
    """The named checks (all when none is named) but the skipped, those that change something
    (changing=True), nothing (False) or either (None); in the manifest's order."""
    known = {check.name for check in checks}
    unknown = (set(names) | set(skip)) - known
    if unknown:
        raise ManifestError(
            f"no check named {', '.join(sorted(unknown))}; the checks: {', '.join(sorted(known))}"
        )
    chosen = [check for check in checks if not names or check.name in names]
    chosen = [check for check in chosen if check.name not in skip]
    if changing is not None:
        chosen = [check for check in chosen if bool(check.changes) == changing]
    if not chosen:
        raise ManifestError("no check is left to run")
    return chosen


def environment():
    """The bundle's own configuration, as an operator runs a playbook (and nested runs do)."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible" / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PYTHONUNBUFFERED="1",
        PATH=f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def failure_record(log_dir, name):
    """Where a failed check's last lines are kept, for `make test` to print again at its end (the
    checks' own output comes long before it, and a CI log may keep only its end)."""
    return log_dir / f"{name}.failed"


def start(check, env, clock, log_dir):
    check.log = log_dir / f"{check.name}.log"
    failure_record(log_dir, check.name).unlink(missing_ok=True)
    check.attempts += 1
    if check.attempts == 1:
        check.started = clock()
    argv = [
        str(REPO / ".venv" / "bin" / "ansible-playbook"),
        "--inventory",
        str(REPO / "ansible" / "inventories" / "lab" / "hosts.yml"),
        str(check.playbook),
    ]
    with check.log.open("w") as log:
        check.process = subprocess.Popen(
            argv, cwd=check.playbook.parent, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    print(f"==> check {check.name} started: {check.about}", flush=True)


def failed_on_the_way_in(check):
    """Whether a failed first attempt failed in the connection, not in the check."""
    if check.process.returncode == 0 or check.attempts > 1:
        return False
    return TRANSPORT_FAILURE.search(check.log.read_text(errors="replace")) is not None


def retry(check, env, clock, log_dir):
    first_log = check.log.with_name(f"{check.name}.attempt1.log")
    check.log.replace(first_log)
    print(
        f"==> check {check.name} failed in the connection, not in the check; running it again"
        f" (first attempt's log {first_log})",
        flush=True,
    )
    start(check, env, clock, log_dir)


def finish(check, clock, began, log_dir):
    check.seconds = clock() - check.started
    check.status = "ok" if check.process.returncode == 0 else f"FAILED ({check.process.returncode})"
    print(
        f"==> check {check.name} {check.status} in {check.seconds:.0f}s"
        f" (started at +{check.started - began:.0f}s, load average {os.getloadavg()[0]:.1f},"
        f" log {check.log}){' on its second attempt' if check.attempts > 1 else ''}",
        flush=True,
    )
    if check.process.returncode != 0:
        text = check.log.read_text(errors="replace")
        # The summary last: a CI log that keeps only part of a long failure keeps its end.
        lines = text.splitlines()[-FAILURE_TAIL_LINES:] + failed_tasks(check.name, text)
        print("\n".join(f"    {line}" for line in lines), flush=True)
        failure_record(log_dir, check.name).write_text("\n".join(lines) + "\n")


def failed_tasks(name, log_text):
    """One short line per failed task of a check's log: the task and the start of its message."""
    return [
        f"check {name} failed at task [{match['task']}]:"
        f" {match['error'][:FAILED_TASK_MESSAGE_CHARS]}"
        for match in FAILED_TASK.finditer(log_text)
    ] or [f"check {name} failed before any task did (see its log)"]


def run(checks, max_running, log_dir, clock=time.monotonic):
    """Starts every check whose resources are free, in order, and waits for all of them."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env, began = environment(), clock()
    waiting, running = list(checks), []
    while waiting or running:
        for check in list(waiting):
            if len(running) >= max_running:
                break
            ahead = waiting[: waiting.index(check)]
            if not any(check.clashes_with(other) for other in running + ahead):
                waiting.remove(check)
                start(check, env, clock, log_dir)
                running.append(check)
        time.sleep(1)
        for check in [check for check in running if check.process.poll() is not None]:
            if failed_on_the_way_in(check):
                retry(check, env, clock, log_dir)
                continue
            running.remove(check)
            finish(check, clock, began, log_dir)
    return clock() - began


def report(checks, total_seconds, log_dir):
    width = max(len(check.name) for check in checks)
    print(f"\n{'CHECK':<{width}}  SECONDS  RESULT")
    for check in checks:
        second = (
            " (second attempt: the first failed in the connection)" if check.attempts > 1 else ""
        )
        print(f"{check.name:<{width}}  {check.seconds:7.0f}  {check.status}{second}")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"\nthe ten slowest checks ({total_seconds:.0f}s in all, side by side):")
    for check in sorted(checks, key=lambda check: check.seconds, reverse=True)[:10]:
        print(f"  {check.seconds:6.0f}s  {check.name}")
    print(f"load average (1, 5, 15 min) at the end: {load}")
    failed = [check.name for check in checks if check.status != "ok"]
    if failed:
        print(f"\nFAILED checks: {', '.join(failed)} (logs in {log_dir}/)")
    return not failed


def list_checks(checks):
    for check in checks:
        print(f"{check.name}: {check.about}")
        print(f"    playbook {check.playbook}")
        print(f"    reads    {', '.join(sorted(check.reads)) or '-'}")
        print(f"    changes  {', '.join(sorted(check.changes)) or '-'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="checks to run (default: all)")
    parser.add_argument("--skip", action="append", default=[], help="a check not to run")
    by_changes = parser.add_mutually_exclusive_group()
    by_changes.add_argument(
        "--changing-nothing", action="store_true", help="only the checks that change nothing"
    )
    by_changes.add_argument(
        "--changing-something", action="store_true", help="only the checks that change something"
    )
    parser.add_argument(
        "--max-running", type=int, default=3, help="checks running at once (default 3)"
    )
    parser.add_argument("--list", action="store_true", help="list the checks and their resources")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help="the checks' manifest")
    parser.add_argument("--log-dir", type=Path, default=LOG_DIR, help="where each check's log goes")
    args = parser.parse_args(argv)
    try:
        changing = True if args.changing_something else False if args.changing_nothing else None
        checks = select(load_manifest(args.manifest), args.names, args.skip, changing)
    except ManifestError as error:
        parser.error(str(error))
    if args.list:
        list_checks(checks)
        return 0
    total = run(checks, args.max_running, args.log_dir)
    return 0 if report(checks, total, args.log_dir) else 1


if __name__ == "__main__":
    sys.exit(main())
