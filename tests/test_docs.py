"""The manual cannot rot: README.md names only real commands and files, and its role variables
are the roles' meta/argument_specs.yml, which the roles' defaults/main.yml follow line by line."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README_TEXT = (ROOT / "README.md").read_text()
ROLE_DIRS = sorted(path.parents[1] for path in ROOT.glob("roles/*/meta/argument_specs.yml"))


def code_in_readme():
    """Inline code spans and fenced blocks: where the README gives commands to type."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", README_TEXT, flags=re.MULTILINE | re.DOTALL)
    without_fenced = re.sub(r"^```.*?^```", "", README_TEXT, flags=re.MULTILINE | re.DOTALL)
    return fenced + re.findall(r"`([^`\n]+)`", without_fenced)


def make_targets_in(code):
    """`make X` at the start of a command line, after any VAR=value assignments."""
    assignments = r'(?:\w+=(?:"[^"]*"|\S+)\s+)*'
    return re.findall(rf"^\s*{assignments}make ([\w-]+)", code, flags=re.MULTILINE)


def makefile_targets():
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_-]+):", makefile, flags=re.MULTILINE))


def main_spec(role_dir):
    spec = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def role_defaults(role_dir):
    return yaml.safe_load((role_dir / "defaults" / "main.yml").read_text()) or {}


def role_docs(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "role_docs.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_readme_role_variables_match_argument_specs():
    result = role_docs("--check")
    assert result.returncode == 0, result.stderr


def test_a_stale_role_table_is_named_with_the_command_that_fixes_it(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        README_TEXT.replace("| `sanic_service_workers` | int | `2` |", "| x | y | z |")
    )
    result = role_docs("--check", "--readme", str(readme))
    assert result.returncode == 1
    assert "stale: role sanic_service\n" in result.stderr
    assert "make docs" in result.stderr


def test_write_appends_the_section_to_a_readme_without_one(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nText.\n")
    assert role_docs("--write", "--readme", str(readme)).returncode == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\nText.\n\n## Role variables\n\n<!-- role-variables:start -->")
    assert text.endswith("<!-- role-variables:end -->\n")
    assert role_docs("--check", "--readme", str(readme)).returncode == 0


def test_every_make_command_in_readme_is_a_makefile_target():
    mentioned = {target for code in code_in_readme() for target in make_targets_in(code)}
    assert mentioned >= {"test", "lab"}, "the README's two commands were not found"
    assert mentioned - makefile_targets() == set()


def test_every_script_named_in_readme_exists():
    named = set(re.findall(r"\bscripts/[\w.-]+", README_TEXT))
    assert named, "the README names no script at all"
    assert sorted(name for name in named if not (ROOT / name).is_file()) == []


def test_make_docs_regenerates_the_role_variables():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^docs:.*\n\t(.*)$", makefile, flags=re.MULTILINE)
    assert recipe is not None
    assert recipe.group(1) == ".venv/bin/python scripts/role_docs.py --write"


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
