"""The alert rules, rendered by Ansible from the role's template, pass their promtool unit tests."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "sanic_scrape_job"
RULES_DIR = Path(__file__).resolve().parent
ANSIBLE = Path(sys.executable).parent / "ansible"


def render_rules(dest: Path, *var_files: Path) -> None:
    """Render the rules template like the role does: its defaults, overridden by var_files."""
    extra_vars = [
        arg for f in (ROLE / "defaults" / "main.yml", *var_files) for arg in ("-e", f"@{f}")
    ]
    subprocess.run(
        [
            ANSIBLE,
            "localhost",
            "--connection=local",
            "--inventory=localhost,",
            "--extra-vars",
            f"ansible_python_interpreter={sys.executable}",
            *extra_vars,
            "--module-name=ansible.builtin.template",
            f"--args=src={ROLE / 'templates' / 'sanic_rules.yml.j2'} dest={dest}",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "ANSIBLE_LOCALHOST_WARNING": "false"},
    )


@pytest.mark.parametrize(
    ("unit_tests", "var_files"),
    [
        ("sanic_rules.test.yml", ()),
        ("custom_thresholds.test.yml", (RULES_DIR / "custom_thresholds.vars.yml",)),
    ],
)
def test_rendered_rules_pass_promtool_unit_tests(tmp_path, unit_tests, var_files):
    render_rules(tmp_path / "sanic_rules.yml", *var_files)
    shutil.copy(RULES_DIR / unit_tests, tmp_path)

    check = subprocess.run(
        ["promtool", "check", "rules", "sanic_rules.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 7 rules found" in check.stdout

    result = subprocess.run(
        ["promtool", "test", "rules", unit_tests], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
