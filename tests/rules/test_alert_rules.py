"""The alert rules, rendered by Ansible from the role's template, pass their promtool unit tests."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from alerting.render import render_template

RULES_DIR = Path(__file__).resolve().parent


def render_rules(dest: Path, *var_files: Path) -> None:
    """Render the rules template like the role does: its defaults, overridden by var_files."""
    variables = {}
    for var_file in var_files:
        variables.update(yaml.safe_load(var_file.read_text()))
    render_template("sanic_scrape_job", "sanic_rules.yml.j2", dest, variables)


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
    assert "SUCCESS: 9 rules found" in check.stdout

    result = subprocess.run(
        ["promtool", "test", "rules", unit_tests], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
