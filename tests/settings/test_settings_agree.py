"""Every station a per-service setting passes agrees with app_instrumentation's settings table:
the role's argument_specs and defaults, the unit template (rendered by ansible-playbook),
docs/ROLE_VARIABLES.md and the package's own readers. Each test is one station, parametrized by
setting, so a station changed alone fails naming the setting that drifted."""

import ast
import importlib
from pathlib import Path

import pytest
import yaml

from app_instrumentation.settings import (
    BY_ENVIRONMENT,
    FACTORY,
    MULTIPROC_DIR,
    READ_BY_INSTRUMENT,
    SETTINGS,
)

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "sanic_service"
SPEC = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
OPTIONS = SPEC["argument_specs"]["main"]["options"]
ITEM_OPTIONS = OPTIONS["sanic_services"]["options"]
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
PAGE = (ROOT / "docs" / "ROLE_VARIABLES.md").read_text()
PACKAGE = ROOT / "app_instrumentation" / "src" / "app_instrumentation"

KEYED = [setting for setting in SETTINGS if setting.key]
PASSED = [setting for setting in SETTINGS if setting.environment]


def names(settings):
    return [setting.name for setting in settings]


# --- argument_specs and defaults ----------------------------------------------------------------
def option_of(setting) -> dict:
    """The sanic_services option argument_specs declares for `setting`."""
    option = {"description": setting.doc, "type": setting.type}
    if setting.choices:
        option["choices"] = list(setting.choices)
    if setting.required:
        option["required"] = True
    if setting.default is not None and not setting.role_variable:
        option["default"] = setting.default
    return option


@pytest.mark.parametrize("setting", KEYED, ids=names(KEYED))
def test_argument_specs_declare_each_key_as_the_table_does(setting):
    assert ITEM_OPTIONS.get(setting.key) == option_of(setting), (
        f"sanic_services[].{setting.key}: argument_specs differs from the settings table"
    )


def test_argument_specs_declare_the_tables_keys_in_its_order_and_no_other():
    keys = [setting.key for setting in KEYED]
    assert sorted(set(ITEM_OPTIONS) - set(keys)) == [], "keys the settings table lacks"
    assert list(ITEM_OPTIONS) == keys


@pytest.mark.parametrize("setting", KEYED, ids=names(KEYED))
def test_each_role_wide_default_is_the_tables_default(setting):
    variable = f"sanic_service_{setting.key}"
    assert (variable in OPTIONS) == setting.role_variable, (
        f"{setting.key}: {variable} in argument_specs, role_variable in the settings table"
    )
    if setting.role_variable:
        declared = (OPTIONS[variable]["type"], OPTIONS[variable]["default"], DEFAULTS[variable])
        assert declared == (setting.type, setting.default, setting.default), (
            f"{setting.key}: argument_specs' {variable} (type, default) and defaults/main.yml"
            " differ from the settings table"
        )


# --- the resolver and tasks/resolve.yml --------------------------------------------------------
ROLE_WIDE = [setting for setting in KEYED if setting.role_variable]
RESOLVE_TASKS = (ROLE / "tasks" / "resolve.yml").read_text()


@pytest.mark.parametrize("setting", ROLE_WIDE, ids=names(ROLE_WIDE))
def test_resolve_yml_hands_the_resolver_each_role_wide_default(setting):
    assert f"{setting.key}=sanic_service_{setting.key}," in RESOLVE_TASKS, (
        f"{setting.key}: tasks/resolve.yml does not pass sanic_service_{setting.key}"
    )


@pytest.mark.parametrize("setting", ROLE_WIDE, ids=names(ROLE_WIDE))
def test_the_resolver_gives_a_service_without_the_key_the_role_wide_default(
    resolve_services, setting
):
    service = {"name": "shop", "factory": FACTORY.example, "app_source": "/src", "port": 10010}
    (resolved,) = resolve_services([service], host_address="192.0.2.10", inventory_hostname="app1")
    assert resolved.get(setting.key) == setting.default, (
        f"{setting.key}: the resolver gives {resolved.get(setting.key)!r}, the settings table"
        f" {setting.default!r}"
    )


# --- the unit template --------------------------------------------------------------------------
EXTRA = {"TZ": "UTC"}


@pytest.fixture(scope="module")
def units(tmp_path_factory, render_units, unit_environment):
    """The units of two services with every setting at its example: `shop` in wrapper mode,
    `reports` in explicit mode."""
    directory = tmp_path_factory.mktemp("units")
    keys = {setting.key: setting.example for setting in PASSED if setting.key}
    environment = {setting.environment: setting.example for setting in PASSED if not setting.key}
    base = {"app_source": "/src", "environment": {**environment, **EXTRA}, **keys}
    services = [
        {**base, "name": "shop", "port": 10010, "instrumentation": "wrapper"},
        {**base, "name": "reports", "port": 10011, "instrumentation": "explicit"},
    ]
    result = render_units(directory, {"sanic_services": services}, "resolve")
    assert result.returncode == 0, result.stdout + result.stderr
    return {
        service["instrumentation"]: unit_environment(directory / f"sanic-{service['name']}.service")
        for service in services
    }


@pytest.mark.parametrize("setting", PASSED, ids=names(PASSED))
def test_the_unit_passes_each_setting_as_the_table_does(units, setting):
    for instrumentation, environment in units.items():
        passed = setting.passed_when in (None, ("instrumentation", instrumentation))
        expected = setting.example if passed else None
        assert environment.get(setting.environment) == expected, (
            f"{setting.name}: the {instrumentation} unit passes {setting.environment}="
            f"{environment.get(setting.environment)}, the settings table says {expected}"
        )


def test_the_unit_passes_no_variable_the_table_lacks(units):
    for environment in units.values():
        assert sorted(set(environment) - set(BY_ENVIRONMENT) - set(EXTRA)) == []


# --- docs/ROLE_VARIABLES.md ---------------------------------------------------------------------
def table_rows(heading: str) -> dict[str, list[str]]:
    """The rows of the first Markdown table after `heading`, by their first cell's name."""
    rows = {}
    lines = PAGE.split(heading, 1)[1].splitlines()
    first = next(index for index, line in enumerate(lines) if line.startswith("|"))
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


KEY_ROWS = table_rows("Keys of each item of `sanic_services`:")
ENVIRONMENT_ROWS = table_rows("### Environment of each sanic_service service")


@pytest.mark.parametrize("setting", KEYED, ids=names(KEYED))
def test_role_variables_page_documents_each_key_as_the_table_does(setting):
    kind = setting.type + (f" ({', '.join(setting.choices)})" if setting.choices else "")
    default = option_of(setting).get("default")
    row = [kind, f"`{default}`" if default else "", "yes" if setting.required else "", setting.doc]
    assert KEY_ROWS.get(setting.key) == row, (
        f"{setting.key}: its row in docs/ROLE_VARIABLES.md differs from the settings table"
    )


@pytest.mark.parametrize("setting", PASSED, ids=names(PASSED))
def test_role_variables_page_documents_each_variable_as_the_table_does(setting):
    row = ENVIRONMENT_ROWS.get(setting.environment)
    default = f"`{setting.default_text}`" if setting.default_text else ""
    assert row is not None and row[1:] == [default, setting.doc], (
        f"{setting.environment}: its row in docs/ROLE_VARIABLES.md differs from the settings table"
    )


# --- the package's readers ----------------------------------------------------------------------
# Variables the package reads that are no setting: the merger socket the main process hands its
# workers, and systemd's socket activation.
NOT_SETTINGS = {"APP_INSTRUMENTATION_MERGER_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}
# The collector keeps prometheus_client's MultiProcessCollector(registry, path=None) signature,
# which reads the directory from the environment when no path is given.
OWN_READS = {("collector.py", "PROMETHEUS_MULTIPROC_DIR")}


def is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def environment_reads(path: Path) -> list[tuple[int, str | None]]:
    """(line, variable) of each read of the environment in a module of the package:
    os.environ.get/pop/[...] and os.getenv, a variable's name resolved through the module's own
    names (None: computed at run time)."""
    module = vars(importlib.import_module(f"app_instrumentation.{path.stem}"))
    reads = []
    for node in ast.walk(ast.parse(path.read_text())):
        argument = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            getter = node.func.attr in ("get", "pop") and is_environ(node.func.value)
            if getter or node.func.attr == "getenv":
                argument = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            argument = node.slice if is_environ(node.value) else None
        if isinstance(argument, ast.Constant):
            reads.append((node.lineno, argument.value))
        elif argument is not None:
            reads.append((node.lineno, module.get(getattr(argument, "id", None))))
    return reads


READS = {
    (path.name, line, variable)
    for path in sorted(PACKAGE.glob("*.py"))
    if path.name not in ("settings.py", "__init__.py")
    for line, variable in environment_reads(path)
}


@pytest.mark.parametrize("setting", PASSED, ids=names(PASSED))
def test_the_package_reads_each_setting_through_the_table_only(setting):
    own = sorted(
        f"{module}:{line}"
        for module, line, variable in READS
        if variable == setting.environment and (module, variable) not in OWN_READS
    )
    assert own == [], (
        f"{setting.environment} is read from the environment by {', '.join(own)} itself;"
        " read it with the settings table's Setting.read"
    )


def test_the_package_reads_no_variable_the_table_lacks():
    undeclared = sorted(
        f"{module}:{line} reads {variable or 'a variable named at run time'}"
        for module, line, variable in READS
        if variable not in BY_ENVIRONMENT and variable not in NOT_SETTINGS
    )
    assert undeclared == [], "declare each setting in app_instrumentation/settings.py"


def test_the_service_reads_every_variable_the_unit_passes_at_start():
    read_at_start = {FACTORY, MULTIPROC_DIR, *READ_BY_INSTRUMENT}
    assert [setting.environment for setting in PASSED if setting not in read_at_start] == []
