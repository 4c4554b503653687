"""scripts/test.sh's bookkeeping: a failed phase fails `make test`, wherever it runs.

Lint, the Python tests, the benchmark smoke test and the fleet checks that change nothing run in
background copies of the script, which count in their own shells; until 2026-12-06 their failures
never reached the run's status. Here the real script runs with each phase's body replaced by one
that passes or fails on demand.
"""

import os
import subprocess
from pathlib import Path

import pytest

TEST_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "test.sh"

# The functions that do each phase's work, replaced by one that fails for the chosen phase only.
STUBBED_BODIES = """
outcome() { [ "$1" != "$FAILING_PHASE" ]; }
set_up_host() { outcome setup; }
molecule() { outcome "molecule $1"; }
lint() { outcome lint; }
python_tests() { outcome "python tests"; }
benchmark_smoke() { outcome "benchmark smoke"; }
fleet_checks() {
  outcome "fleet checks $1" && return 0
  printf 'TASK [Assert the planted fact]\nplanted check failure\n' >"$FLEET_CHECK_LOGS/x.failed"
  return 1
}
"""

# Every phase's row in the report, in the order main() prints them.
PHASES = [
    "setup",
    "molecule destroy",
    "molecule syntax",
    "molecule create",
    "molecule converge",
    "molecule idempotence",
    "fleet checks changing nothing",
    "python tests",
    "benchmark smoke",
    "fleet checks",
    "lint",
    "molecule destroy",
]
STUB_KEY = {
    "fleet checks changing nothing": "fleet checks --changing-nothing",
    "fleet checks": "fleet checks --changing-something",
}


def run_with_failing(phase: str, check_logs: Path) -> subprocess.CompletedProcess:
    script = f'. "{TEST_SCRIPT}"\n{STUBBED_BODIES}\nFLEET_CHECK_LOGS="{check_logs}"\nmain'
    return subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "FAILING_PHASE": STUB_KEY.get(phase, phase)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def report(stdout: str) -> list[tuple[str, str]]:
    """(phase, result) of each row of the table the run ends with."""
    table = stdout.split("PHASE ")[1].splitlines()[1:]
    rows = [line.rsplit("s  ", 1) for line in table if not line.startswith("load average")]
    return [(name.rsplit(None, 1)[0].strip(), result) for name, result in rows]


def test_a_run_where_every_phase_passes_passes(tmp_path):
    result = run_with_failing("nothing", tmp_path)
    assert result.returncode == 0, result.stderr
    assert report(result.stdout) == [(phase, "ok") for phase in PHASES]
    assert "0 failed phase(s)" in result.stderr


@pytest.mark.parametrize(
    "failing",
    [
        "lint",
        "python tests",
        "benchmark smoke",
        "fleet checks changing nothing",
        "fleet checks",
    ],
)
def test_a_failed_phase_fails_the_run_and_is_reported_failed(failing, tmp_path):
    result = run_with_failing(failing, tmp_path)
    assert result.returncode == 1, result.stderr
    assert report(result.stdout) == [
        (phase, "FAILED (1)" if phase == failing else "ok") for phase in PHASES
    ]
    assert "1 failed phase(s)" in result.stderr


@pytest.mark.parametrize("failing", ["molecule converge", "molecule idempotence"])
def test_a_fleet_that_does_not_come_up_skips_the_fleet_checks_and_fails_the_run(failing, tmp_path):
    result = run_with_failing(failing, tmp_path)
    assert result.returncode == 1, result.stderr
    rows = report(result.stdout)
    assert (failing, "FAILED (1)") in rows
    assert "fleet checks" not in [phase for phase, _ in rows]
    assert rows[-1] == ("molecule destroy", "ok")
    assert "1 failed phase(s)" in result.stderr


@pytest.mark.parametrize("failing", ["fleet checks changing nothing", "fleet checks"])
def test_a_failed_fleet_checks_last_lines_come_again_at_the_end(failing, tmp_path):
    (tmp_path / "earlier.failed").write_text("a failure of an earlier run\n")
    result = run_with_failing(failing, tmp_path)
    assert result.returncode == 1, result.stderr
    end = result.stdout.split("PHASE ")[0]
    assert "==> fleet check x FAILED; the end of its log" in end
    assert end.rstrip().endswith("TASK [Assert the planted fact]\nplanted check failure")
    assert "earlier" not in result.stdout
