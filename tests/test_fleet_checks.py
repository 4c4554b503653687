"""The fleet checks' runner (scripts/fleet_checks.py): its manifest lists every verify playbook
once; a check waits for another only where their declared resources clash; bad input names what
is wrong. The scheduling runs real ansible-playbook runs of tiny local playbooks."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO / "scripts" / "fleet_checks.py"
SCENARIO = REPO / "molecule" / "default"


# A check's playbook whose own task fails.
PLANTED_FAILURE = [
    {
        "name": "Fail",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [{"name": "Fail", "ansible.builtin.fail": {"msg": "planted failure"}}],
    }
]


def run_runner(*args, timeout=300):
    return subprocess.run(
        [sys.executable, str(RUNNER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_manifest(directory, checks, seconds=2):
    """A manifest of checks that each wait `seconds` on localhost and print their name."""
    for check in checks:
        play = [
            {
                "name": f"Check {check['name']}",
                "hosts": "localhost",
                "gather_facts": False,
                "tasks": [{"name": "Wait", "ansible.builtin.pause": {"seconds": seconds}}],
            }
        ]
        (directory / f"{check['name']}.yml").write_text(yaml.safe_dump(play))
        check.setdefault("playbook", f"{check['name']}.yml")
        check.setdefault("about", f"check {check['name']}")
    manifest = directory / "checks.yml"
    manifest.write_text(yaml.safe_dump({"checks": checks}))
    return manifest


def started_at(output):
    """Each check's start, in seconds after the run began, as the runner prints it."""
    return {
        name: int(offset)
        for name, offset in re.findall(r"==> check (\w+) ok in \d+s \(started at \+(\d+)s", output)
    }


def test_the_manifest_lists_every_verify_playbook_once():
    listed = re.findall(r"^    playbook (\S+)$", run_runner("--list").stdout, flags=re.MULTILINE)
    playbooks = sorted(str(path) for path in SCENARIO.glob("verify_*.yml"))
    assert sorted(listed) == playbooks


def test_checks_that_change_nothing_are_the_read_only_ones():
    output = run_runner("--changing-nothing", "--list").stdout
    assert re.findall(r"^(\w+):", output, flags=re.MULTILINE) == ["boot", "check_mode", "bad_input"]
    assert set(re.findall(r"^    changes  (.*)$", output, flags=re.MULTILINE)) == {"-"}


def test_a_reader_waits_for_a_change_of_the_path_above_it_and_an_unrelated_check_does_not(
    tmp_path,
):
    manifest = write_manifest(
        tmp_path,
        [
            {"name": "breaks_host", "reads": [], "changes": ["app1"]},
            {"name": "reads_service", "reads": ["app1/web/process"], "changes": []},
            {"name": "reads_other_host", "reads": ["app2"], "changes": []},
        ],
    )
    result = run_runner("--manifest", manifest, "--log-dir", tmp_path / "logs")
    assert result.returncode == 0, result.stdout + result.stderr
    starts = started_at(result.stdout)
    durations = dict(re.findall(r"==> check (\w+) ok in (\d+)s", result.stdout))
    assert starts["reads_other_host"] == starts["breaks_host"] == 0
    assert starts["reads_service"] >= int(durations["breaks_host"])
    assert "the ten slowest checks" in result.stdout


def test_a_failed_check_is_named_and_fails_the_run(tmp_path):
    manifest = write_manifest(tmp_path, [{"name": "fine", "reads": [], "changes": []}])
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(PLANTED_FAILURE))
    checks = yaml.safe_load(manifest.read_text())["checks"] + [
        {"name": "broken", "playbook": "broken.yml", "about": "fails", "reads": [], "changes": []}
    ]
    manifest.write_text(yaml.safe_dump({"checks": checks}))
    result = run_runner("--manifest", manifest, "--log-dir", tmp_path / "logs")
    assert result.returncode == 1
    assert "FAILED checks: broken (logs in" in result.stdout
    # Its failed task and message, in one line after its log's last lines.
    summary = "check broken failed at task [Fail]: Task failed: Action failed: planted failure"
    assert summary in result.stdout
    # Kept for make test's end; a check's next start removes its record.
    assert sorted(path.name for path in (tmp_path / "logs").glob("*.failed")) == ["broken.failed"]
    assert (tmp_path / "logs" / "broken.failed").read_text().splitlines()[-1] == summary
    (tmp_path / "broken.yml").write_text((tmp_path / "fine.yml").read_text())
    assert run_runner("--manifest", manifest, "--log-dir", tmp_path / "logs").returncode == 0
    assert list((tmp_path / "logs").glob("*.failed")) == []


@pytest.mark.parametrize(
    "connection_failure",
    [
        "failed to resolve remote temporary directory from ansible-tmp-1: `mkdir` returned empty"
        " string",
        "The filter plugin 'ansible.builtin.from_json' failed: Expecting value: line 1 column 1"
        " (char 0)",
        "Task failed: cannot use a string pattern on a bytes-like object",
    ],
    ids=["no temporary directory", "no command output", "no module output"],
)
def test_a_check_that_failed_in_the_connection_runs_again_once_and_one_that_failed_itself_not(
    tmp_path, connection_failure
):
    """A first attempt that prints the Docker connection's empty-output failure runs again (here
    it then passes); a check whose own task fails is not run again."""
    marker = tmp_path / "first-attempt-done"
    flaky = [
        {
            "name": "Fail in the connection on the first attempt only",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Fail as the connection does",
                    "ansible.builtin.fail": {"msg": connection_failure},
                    "when": f"not ('{marker}' is exists)",
                    "register": "attempt",
                    "ignore_errors": True,
                },
                {"name": "Remember", "ansible.builtin.file": {"path": str(marker),
                                                               "state": "touch"}},
                {"name": "Fail the first", "ansible.builtin.fail": {"msg": "x"},
                 "when": "attempt is failed"},
            ],
        }
    ]  # fmt: skip
    (tmp_path / "flaky.yml").write_text(yaml.safe_dump(flaky))
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(PLANTED_FAILURE))
    checks = [
        {"name": name, "playbook": f"{name}.yml", "about": name, "reads": [], "changes": []}
        for name in ("flaky", "broken")
    ]
    manifest = tmp_path / "checks.yml"
    manifest.write_text(yaml.safe_dump({"checks": checks}))
    result = run_runner("--manifest", manifest, "--log-dir", tmp_path / "logs")
    assert result.returncode == 1
    assert "FAILED checks: broken (logs in" in result.stdout
    assert result.stdout.count("==> check flaky started") == 2
    assert result.stdout.count("==> check broken started") == 1
    assert (
        "==> check flaky failed in the connection, not in the check; running it again"
        in result.stdout
    )
    assert re.search(r"==> check flaky ok in \d+s .* on its second attempt", result.stdout)
    assert (tmp_path / "logs" / "flaky.attempt1.log").exists()


def test_an_unknown_check_is_refused_naming_it_and_the_known_ones():
    result = run_runner("no_such_check")
    assert result.returncode == 2
    assert "no check named no_such_check; the checks: access_token," in result.stderr


def test_a_check_without_its_playbook_is_refused_naming_both(tmp_path):
    manifest = tmp_path / "checks.yml"
    check = {"name": "ghost", "playbook": "ghost.yml", "about": "x", "reads": [], "changes": []}
    manifest.write_text(yaml.safe_dump({"checks": [check]}))
    result = run_runner("--manifest", manifest, "--list")
    assert result.returncode == 2
    assert f"checks.yml: checks[0] (ghost): no playbook {tmp_path / 'ghost.yml'}" in result.stderr


def test_a_check_without_its_resources_is_refused_naming_what_is_missing(tmp_path):
    manifest = tmp_path / "checks.yml"
    manifest.write_text(yaml.safe_dump({"checks": [{"name": "vague", "playbook": "x.yml"}]}))
    result = run_runner("--manifest", manifest, "--list")
    assert result.returncode == 2
    assert "checks.yml: checks[0] has no about, changes, reads" in result.stderr
