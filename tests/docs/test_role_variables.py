"""docs/ROLE_VARIABLES.md is generated from each role's meta/argument_specs.yml
(scripts/role_docs.py, `make docs`), and every role's defaults/main.yml follows its spec line by
line."""

import subprocess
import sys

import pytest

from .example import ROLE_DIRS, ROOT, main_spec, role_defaults

PAGE = ROOT / "docs" / "ROLE_VARIABLES.md"


def role_docs(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "role_docs.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_role_variables_page_matches_argument_specs():
    result = role_docs("--check")
    assert result.returncode == 0, result.stderr


def test_a_stale_role_table_is_named_with_the_command_that_fixes_it(tmp_path):
    page = tmp_path / "ROLE_VARIABLES.md"
    page.write_text(
        PAGE.read_text().replace("| `sanic_service_workers` | int | `2` |", "| x | y | z |")
    )
    result = role_docs("--check", "--page", str(page))
    assert result.returncode == 1
    assert "stale: role sanic_service\n" in result.stderr
    assert "make docs" in result.stderr


def test_write_appends_the_tables_to_a_page_without_them(tmp_path):
    page = tmp_path / "ROLE_VARIABLES.md"
    page.write_text("# Title\n\nText.\n")
    assert role_docs("--write", "--page", str(page)).returncode == 0
    text = page.read_text()
    assert text.startswith("# Title\n\nText.\n\n<!-- role-variables:start -->")
    assert text.endswith("<!-- role-variables:end -->\n")
    assert role_docs("--check", "--page", str(page)).returncode == 0


def test_write_creates_a_missing_page_with_its_title(tmp_path):
    page = tmp_path / "ROLE_VARIABLES.md"
    assert role_docs("--write", "--page", str(page)).returncode == 0
    assert page.read_text().startswith("# Role variables\n\n<!-- role-variables:start -->")


def test_make_docs_regenerates_the_role_variables():
    makefile = (ROOT / "Makefile").read_text()
    recipe = next(
        line for line in makefile.split("\ndocs:", 1)[1].splitlines() if line.startswith("\t")
    )
    assert recipe == "\t.venv/bin/python scripts/role_docs.py --write"


@pytest.mark.parametrize("role_dir", ROLE_DIRS, ids=[role_dir.name for role_dir in ROLE_DIRS])
def test_defaults_list_the_specs_defaulted_variables_in_spec_order(role_dir):
    defaulted = [name for name, option in main_spec(role_dir).items() if "default" in option]
    assert list(role_defaults(role_dir)) == defaulted


@pytest.mark.parametrize("role_dir", ROLE_DIRS, ids=[role_dir.name for role_dir in ROLE_DIRS])
def test_defaults_hold_the_values_the_specs_document(role_dir):
    defaults = role_defaults(role_dir)
    documented = {
        name: option["default"] for name, option in main_spec(role_dir).items() if name in defaults
    }
    assert {name: defaults[name] for name in documented} == documented
