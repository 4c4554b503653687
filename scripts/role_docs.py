"""Render docs/ROLE_VARIABLES.md's role tables from every role's meta/argument_specs.yml, and the
table of each service's environment from app_instrumentation's settings table.

argument_specs.yml and settings.py are the sources of truth; this script only copies them into the
page (`--write`) or reports where the page has fallen behind them (`--check`).
"""

import argparse
import json
import sys
from pathlib import Path

import yaml

from app_instrumentation.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "ROLE_VARIABLES.md"
START = "<!-- role-variables:start -->"
END = "<!-- role-variables:end -->"
TITLE = "# Role variables"
FIX_COMMAND = "make docs"


def as_text(description):
    """argument_specs allows a description as a string or a list of paragraphs."""
    if isinstance(description, list):
        return " ".join(description)
    return description or ""


def cell(text):
    """A pipe would end the Markdown table cell early."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def type_of(option):
    kind = option.get("type", "str")
    if "elements" in option:
        kind = f"{kind} of {option['elements']}"
    if "choices" in option:
        kind += " (" + ", ".join(str(choice) for choice in option["choices"]) + ")"
    return kind


def default_of(option):
    if "default" not in option:
        return ""
    value = option["default"]
    return f"`{value if isinstance(value, str) and value else json.dumps(value)}`"


def options_table(options):
    rows = [
        "| variable | type | default | required | description |",
        "|---|---|---|---|---|",
    ]
    for name, option in options.items():
        required = "yes" if option.get("required") else ""
        description = as_text(option.get("description"))
        fields = (f"`{name}`", type_of(option), default_of(option), required, description)
        rows.append("| " + " | ".join(cell(field) for field in fields) + " |")
    return rows


def entry_points(specs):
    """Each entry point besides main: what it does, and the variables it needs besides main's."""
    main_options = specs["main"].get("options", {})
    lines = []
    for name, spec in specs.items():
        if name == "main":
            continue
        added = [f"`{option}`" for option in spec.get("options", {}) if option not in main_options]
        needs = f" Needs {', '.join(added)} too." if added else ""
        lines.append(f"- `{name}`: {as_text(spec.get('short_description'))}.{needs}")
    if not lines:
        return []
    heading = "Entry points besides `main` (`include_role` with `tasks_from: <name>`):"
    return ["", heading, "", *lines]


def role_section(role_dir):
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    main = specs["main"]
    lines = [f"### {role_dir.name}", "", as_text(main.get("short_description")), ""]
    lines += options_table(main.get("options", {}))
    for name, option in main.get("options", {}).items():
        if "options" in option:
            lines += ["", f"Keys of each item of `{name}`:", ""]
            lines += options_table(option["options"])
    lines += entry_points(specs)
    return "\n".join(lines) + "\n"


ENVIRONMENT_SECTION = "environment of each service"


def environment_row(setting):
    key = f"`{setting.key}`" if setting.key else "`environment`"
    if setting.passed_when:
        key += " (when `{}` is `{}`)".format(*setting.passed_when)
    default = f"`{setting.default_text}`" if setting.default_text else ""
    fields = (f"`{setting.environment}`", key, default, setting.doc)
    return "| " + " | ".join(cell(field) for field in fields) + " |"


def environment_section():
    lines = [
        "### Environment of each sanic_service service",
        "",
        "From app_instrumentation's settings table (`settings.py`): what each unit passes to its"
        " service, set through the role key, or else through the service's `environment`. A value"
        " the table's rule refuses stops preflight before any change, and the service at start.",
        "",
        "| variable | set through | default | description |",
        "|---|---|---|---|",
    ]
    lines += [environment_row(setting) for setting in SETTINGS if setting.environment]
    return "\n".join(lines) + "\n"


def role_sections():
    """One rendered section per role, keyed by role name, in name order, then the services'
    environment."""
    role_dirs = sorted(path.parents[1] for path in ROOT.glob("roles/*/meta/argument_specs.yml"))
    sections = {role_dir.name: role_section(role_dir) for role_dir in role_dirs}
    return {**sections, ENVIRONMENT_SECTION: environment_section()}


def generated_block(sections):
    intro = (
        "Generated from each role's `meta/argument_specs.yml` by `scripts/role_docs.py`"
        f" (`{FIX_COMMAND}`); `ansible-doc -t role -r roles <role>` shows the same. Every"
        " variable with a default is set, in this order, in the role's `defaults/main.yml`. The"
        " last table comes from app_instrumentation's settings table.\n"
    )
    return "\n".join([START, intro, *sections.values(), END])


def current_block(page_text):
    """The text between the markers, markers included, or None when they are missing."""
    start = page_text.find(START)
    end = page_text.find(END, start)
    if start == -1 or end == -1:
        return None
    return page_text[start : end + len(END)]


def with_block(page_text, block):
    """The page with its tables replaced; a page without markers gets them at its end."""
    current = current_block(page_text)
    if current is None:
        head = page_text.rstrip("\n") or TITLE
        return f"{head}\n\n{block}\n"
    return page_text.replace(current, block)


def stale_parts(page_text, sections):
    """Names of what the page lacks or has out of date: roles, or the tables themselves."""
    current = current_block(page_text)
    if current is None:
        return [f"the whole section (markers {START} ... {END} are missing)"]
    stale = [
        name if name == ENVIRONMENT_SECTION else f"role {name}"
        for name, section in sections.items()
        if section not in current
    ]
    if not stale and current != generated_block(sections):
        stale.append("the section's text outside the role tables (or a role that no longer exists)")
    return stale


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="update the page in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    parser.add_argument(
        "--page", type=Path, default=PAGE, help=f"default: {PAGE.relative_to(ROOT)}"
    )
    args = parser.parse_args()

    sections = role_sections()
    page_text = args.page.read_text() if args.page.exists() else ""
    if args.write:
        args.page.write_text(with_block(page_text, generated_block(sections)))
        print(f"{args.page.name}: role variables of {', '.join(sections)} written")
        return 0
    stale = stale_parts(page_text, sections)
    if stale:
        print(f"{args.page.name}'s role variables are stale: " + "; ".join(stale), file=sys.stderr)
        print(
            f"Regenerate them from meta/argument_specs.yml and settings.py with: {FIX_COMMAND}",
            file=sys.stderr,
        )
        return 1
    print(f"{args.page.name}'s role variables match meta/argument_specs.yml and settings.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
