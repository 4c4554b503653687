"""prometheus_server's remote-write alerts (failing, falling behind) pass their promtool unit tests
on the promtool of this machine (Debian 12's 2.42)."""

import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "roles/prometheus_server/files/remote_write_rules.yml"
UNIT_TESTS = Path(__file__).resolve().parent / "remote_write.test.yml"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool: Debian prometheus")
def test_remote_write_alerts_fire_for_the_failing_and_lagging_server_only(tmp_path):
    shutil.copy(RULES, tmp_path)
    shutil.copy(UNIT_TESTS, tmp_path)
    check = subprocess.run(
        ["promtool", "check", "rules", RULES.name], cwd=tmp_path, capture_output=True, text=True
    )
    assert "SUCCESS: 2 rules found" in check.stdout, check.stdout + check.stderr
    result = subprocess.run(
        ["promtool", "test", "rules", UNIT_TESTS.name], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
