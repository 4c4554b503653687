"""The manual cannot rot: README.md names only real commands and files, its role variables are the
roles' meta/argument_specs.yml (which the roles' defaults/main.yml follow line by line), its example
inventory is one Ansible reads and the roles accept, and every command in its sh blocks is either
run here (when cheap and safe) or checked against the Makefile, the tools' own --help, the example
inventory and the roles' naming. A command the checks do not recognise fails."""

import ast
import functools
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROOT = Path(__file__).resolve().parents[1]
README_TEXT = (ROOT / "README.md").read_text()
ROLE_DIRS = sorted(path.parents[1] for path in ROOT.glob("roles/*/meta/argument_specs.yml"))
EXAMPLE_INVENTORY = ROOT / "docs" / "examples" / "inventory"
VENV_BIN = Path(sys.executable).parent
# Fence languages the README may use; commands belong in the shell ones, which are all checked.
SHELL_LANGUAGES = {"sh", "bash"}
FENCE_LANGUAGES = SHELL_LANGUAGES | {"text", "yaml"}
# Series every Prometheus scrape adds to its target, besides what the services export.
PROMETHEUS_SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def code_in_readme():
    """Inline code spans and fenced blocks: where the README gives commands to type."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", README_TEXT, flags=re.MULTILINE | re.DOTALL)
    without_fenced = re.sub(r"^```.*?^```", "", README_TEXT, flags=re.MULTILINE | re.DOTALL)
    return fenced + re.findall(r"`([^`\n]+)`", without_fenced)


def fenced_blocks(text=README_TEXT):
    """(language, body, line number of the opening fence) of every fenced block, nested or not."""
    blocks = []
    for match in re.finditer(r"^( *)```(\S*)\n(.*?)^\1```$", text, flags=re.MULTILINE | re.DOTALL):
        body = re.sub(rf"^{match.group(1)}", "", match.group(3), flags=re.MULTILINE)
        blocks.append((match.group(2), body, text.count("\n", 0, match.start()) + 1))
    return blocks


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


def run(argv, cwd=ROOT, env=None):
    """Run a tool of the virtualenv (or the system) without colour, the venv first on PATH."""
    environment = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        **(env or {}),
    }
    return subprocess.run(
        argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


# --- The example inventory, as Ansible reads it, and what the roles derive from it ------------


@functools.cache
def example_inventory():
    result = run(["ansible-inventory", "-i", str(EXAMPLE_INVENTORY), "--list"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def group_hosts(group):
    return example_inventory().get(group, {}).get("hosts", [])


def host_vars(host):
    return example_inventory()["_meta"]["hostvars"][host]


ROLE_PATHS = {role_dir.name: role_dir for role_dir in ROLE_DIRS}


def role_values(role, host):
    """The role's defaults overlaid with the host's inventory variables."""
    return {**role_defaults(ROLE_PATHS[role]), **host_vars(host)}


def render(template, **variables):
    return (
        jinja2.Environment(undefined=jinja2.StrictUndefined)
        .from_string(template)
        .render(**variables)
    )


def role_task(path, predicate):
    """The first task of a sanic_service task file that the predicate picks."""
    tasks = yaml.safe_load((ROLE_PATHS["sanic_service"] / "tasks" / path).read_text())
    return next(task for task in tasks if predicate(task))


@functools.cache
def example_services():
    """Each example service resolved as preflight.yml resolves it (with its own Jinja templates)."""
    resolve = role_task("preflight.yml", lambda task: "sanic_service_derived" in str(task))
    item_defaults = resolve["vars"]["sanic_service_item_defaults"]
    derived = {
        key: resolve["vars"]["sanic_service_derived"][key]
        for key in ("unit_name", "tmpfiles_path", "install_dir")
    }
    unit = role_task("unit.yml", lambda task: "ansible.builtin.template" in task)
    services = []
    for host in group_hosts("sanic_hosts"):
        values = role_values("sanic_service", host)
        for item in values["sanic_services"]:
            service = {
                key: render(value, item=item, **values) for key, value in item_defaults.items()
            }
            service.update(item)
            service.update(
                {key: render(value, item=item, **values) for key, value in derived.items()}
            )
            service["unit_path"] = render(unit["ansible.builtin.template"]["dest"], service=service)
            service.update(host=host, address=values.get("ansible_host", host))
            services.append(service)
    return services


@functools.cache
def prometheus_servers():
    """Each example Prometheus server with the sanic_scrape_job settings it runs with."""
    return [
        {**role_values("sanic_scrape_job", host), "host": host}
        for host in group_hosts("prometheus_servers")
    ]


@functools.cache
def exported_metric_names():
    """Names the instrumentation declares (histograms with their series suffixes)."""
    names = set()
    for source in (ROOT / "app_instrumentation" / "src").rglob("*.py"):
        tree = ast.parse(source.read_text())
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            kind = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if kind not in {"Counter", "Gauge", "Histogram", "GaugeMetricFamily"}:
                continue
            first = node.args[0]
            name = first.value if isinstance(first, ast.Constant) else None
            name = name or constants.get(getattr(first, "id", None))
            if not isinstance(name, str):
                continue  # e.g. declare_gauge's Gauge(name, ...): the caller's name, not one here
            names.add(name)
            if kind == "Histogram":
                names.update(f"{name}_{suffix}" for suffix in ("bucket", "count", "sum"))
    return names


# --- Reading the README's commands --------------------------------------------------------------


@dataclass
class Command:
    """One command of a README sh block, with the directory and path aliases it runs with."""

    line: int
    argv: list
    env: dict
    cwd: Path
    aliases: dict = field(default_factory=dict)
    piped: bool = False

    @property
    def program(self):
        return self.argv[0]

    @property
    def args(self):
        """Arguments with a copied path (`cp -r SRC DEST`) read as the source it copies."""
        return [self.aliases.get(arg, arg) for arg in self.argv[1:]]

    def __str__(self):
        return f"README line {self.line}: {shlex.join(self.argv)}"


def split_commands(line):
    """Split one shell line into commands at `&&`, `||`, `;` and `|` (the latter marked piped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current, piped = [], [], False
    for token in lexer:
        if token in {"&&", "||", ";", "|"}:
            commands.append((current, piped))
            current, piped = [], token == "|"
        else:
            current.append(token)
    commands.append((current, piped))
    return [(argv, piped) for argv, piped in commands if argv]


def logical_lines(body, first_line):
    """(line number, text) of each command line, a trailing backslash joining the next line."""
    start, pending = None, ""
    for number, raw in enumerate(body.split("\n"), start=first_line):
        start = number if not pending else start
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        yield start, pending + raw
        pending = ""


def readme_commands(text=README_TEXT):
    """Every command of the sh blocks; each block starts at the repository root, as one reads it."""
    commands, aliases = [], {}
    for language, body, fence_line in fenced_blocks(text):
        if language not in SHELL_LANGUAGES:
            continue
        cwd = ROOT
        for number, line in logical_lines(body, fence_line + 1):
            for argv, piped in split_commands(line):
                env = {}
                while argv and re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):
                    name, _, value = argv.pop(0).partition("=")
                    env[name] = value
                command = Command(number, argv, env, cwd, dict(aliases), piped)
                commands.append(command)
                if command.program == "cd":
                    cwd = (cwd / command.argv[1]).resolve()
                if command.program == "cp" and command.argv[1:2] == ["-r"]:
                    aliases[command.argv[3]] = str((cwd / command.argv[2]).resolve())
    return commands


# --- Checking one command -----------------------------------------------------------------------


class NotRecognised(AssertionError):
    """The README shows a command the checks below do not know how to verify."""


# How each tool prints all its options, where `--help` alone shows only some.
FULL_HELP = {
    "curl": ["curl", "--help", "all"],
    "sanic": [str(VENV_BIN / "sanic"), "help", "--full"],
}


@functools.cache
def help_text(*argv):
    result = run(FULL_HELP.get(argv[0], [*argv, "--help"]))
    assert result.returncode == 0, f"{shlex.join(argv)} --help failed: {result.stderr}"
    return result.stdout + result.stderr


# Options that take a value, per host tool: what follows them is not a positional argument.
VALUE_OPTIONS = {
    "curl": {"-o", "-w", "-H", "-D"},
    "journalctl": {"-u", "-n"},
    "systemctl": {"-p"},
    "mount": {"-o"},
    "sanic": {"--workers", "--port", "--host"},
}


def options_and_positionals(program, args):
    """Split arguments into (option, value or None) pairs and positional arguments."""
    options, positionals, pending = [], [], None
    for arg in args:
        if pending is not None:
            options.append((pending, arg))
            pending = None
        elif arg.startswith("--"):
            name, equals, value = arg.partition("=")
            if not equals and name in VALUE_OPTIONS.get(program, set()):
                pending = name
            else:
                options.append((name, value or None))
        elif arg.startswith("-") and len(arg) > 1:
            for letter in arg[1:]:
                options.append((f"-{letter}", None))
            if f"-{arg[-1]}" in VALUE_OPTIONS.get(program, set()):
                pending = options.pop()[0]
        else:
            positionals.append(arg)
    return options, positionals


def check_options_exist(help_argv, options):
    text = help_text(*help_argv)
    for name, _value in options:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), (
            f"{' '.join(help_argv)} has no option {name}"
        )


def known_host_paths():
    """Every path on a host the README may name: what the roles create for the example."""
    paths = {"/dev/null", "/dev/shm"}
    for service in example_services():
        paths.update(
            service[key] for key in ("multiproc_dir", "tmpfiles_path", "install_dir", "unit_path")
        )
    for server in prometheus_servers():
        paths.update(
            {
                server["sanic_scrape_job_prometheus_config_file"],
                server["sanic_scrape_job_rules_file"],
            }
        )
        paths.update(
            f"{server['sanic_scrape_job_file_sd_dir']}/{host}.yml"
            for host in group_hosts("sanic_hosts")
        )
    return paths


def known_units():
    units = {server["sanic_scrape_job_prometheus_service"] for server in prometheus_servers()}
    for service in example_services():
        units.update({service["unit_name"], service["unit_name"].removesuffix(".service")})
    return units


def check_url(url):
    """A service's metrics endpoint (locally or from Prometheus) or a Prometheus server's API."""
    parts = urlsplit(url)
    endpoints = set()
    for service in example_services():
        for address in ("127.0.0.1", service["address"]):
            endpoints.add((f"http://{address}:{service['port']}", service["metrics_path"]))
    for server in prometheus_servers():
        endpoints.add((server["sanic_scrape_job_prometheus_url"], "/api/v1/targets"))
    assert (f"{parts.scheme}://{parts.netloc}", parts.path) in endpoints, (
        f"{url} is neither an example service's metrics endpoint nor a Prometheus API"
    )


def check_metric_prefixes(text):
    """Metric-like words (sanic_, http_server_, app_instrumentation_) start an exported name."""
    names = exported_metric_names()
    for word in re.findall(r"\b(?:sanic|http_server|app_instrumentation)_\w*", text):
        assert any(name.startswith(word) for name in names), f"no exported metric starts {word}"


def check_promql(expression, tmp_dir):
    """Valid PromQL (promtool parses it as a rule), selecting only known series of the job."""
    selectors = re.findall(r"([A-Za-z_:][\w:]*)\{([^}]*)\}", expression)
    assert selectors, f"{expression}: every selector in the README names its job"
    known = exported_metric_names() | PROMETHEUS_SCRAPE_SERIES
    jobs = {server["sanic_scrape_job_name"] for server in prometheus_servers()}
    for metric, matchers in selectors:
        assert metric in known, f"{expression}: {metric} is not a series the services export"
        assert re.fullmatch(r'job="([^"]+)"', matchers), f"{expression}: select by job alone"
        assert matchers.split('"')[1] in jobs, f"{expression}: not the example's job {jobs}"
    rules = tmp_dir / "readme_expression.rules.yml"
    rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {"name": "readme", "rules": [{"record": "readme:expr", "expr": expression}]}
                ]
            }
        )
    )
    result = run(["promtool", "check", "rules", str(rules)])
    assert result.returncode == 0, (
        f"{expression}: promtool refuses it: {result.stdout}{result.stderr}"
    )


def check_host_command(command, tmp_dir):
    """A command an operator runs on an app host or a Prometheus server (as root)."""
    program, args = command.program, command.args
    options, positionals = options_and_positionals(program, args)
    if program == "promtool":
        subcommand = positionals[:2]
        assert subcommand in (["check", "config"], ["query", "instant"]), subcommand
        check_options_exist(["promtool", *subcommand], options)
        if subcommand == ["query", "instant"]:
            urls = {server["sanic_scrape_job_prometheus_url"] for server in prometheus_servers()}
            assert positionals[2] in urls, f"{positionals[2]} is not a Prometheus server's URL"
            check_promql(positionals[3], tmp_dir)
            return
        positionals = positionals[2:]
    elif program == "systemctl":
        check_options_exist([program], options)
        verb, *positionals = positionals
        assert re.search(rf"^  {re.escape(verb)}\b", help_text(program), re.MULTILINE), verb
        units = set(positionals)
        assert units <= known_units(), f"unknown units {units - known_units()}"
        return
    elif program == "userdel":
        check_options_exist([program], options)
        users = {service["user"] for service in example_services()}
        assert set(positionals) <= users, f"{positionals} are not the example services' users"
        return
    else:
        check_options_exist([program], options)
    if program == "journalctl":
        units = {value for name, value in options if name == "-u"}
        assert units <= known_units(), f"unknown units {units - known_units()}"
    if program == "grep":
        check_metric_prefixes(" ".join(positionals))
        return
    for arg in positionals + [value for _name, value in options if value]:
        if arg.startswith("http"):
            check_url(arg)
        elif arg.startswith(("/", "~")):
            assert arg in known_host_paths(), f"{arg} is not a path the roles create"


HOST_TOOLS = {
    "curl", "grep", "systemctl", "journalctl", "ls", "df", "du", "cat", "rm", "mount",
    "promtool", "userdel", "systemd-tmpfiles",
}  # fmt: skip


def check_command(command, tmp_dir):
    """Run the command when cheap and safe, else check it; raise NotRecognised for the rest."""
    program, args = command.program, command.args
    if program == "cd":
        assert (command.cwd / args[0]).is_dir(), f"{command}: no such directory"
    elif program in {".", "source"}:
        assert (command.cwd / args[0]).is_file(), f"{command}: no such file"
    elif program == "cp" and args[:1] == ["-r"]:
        assert (command.cwd / command.argv[2]).is_dir(), f"{command}: nothing to copy"
    elif program == "make":
        target = args[0]
        assert target in makefile_targets(), f"{command}: no such Makefile target"
        for name in command.env:
            assert any(name in script.read_text() for script in (ROOT / "scripts").glob("*")), name
        result = run(["make", "-n", target], env=command.env)
        assert result.returncode == 0, result.stderr
    elif program == "ansible-playbook":
        # --syntax-check parses the playbook, the inventory and the roles without touching a host.
        assert (command.cwd / "ansible.cfg").is_file(), f"{command}: run it from ansible/"
        result = run([program, *args, "--syntax-check"], cwd=command.cwd)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    elif program == "ansible":
        result = run([program, *args, "--list-hosts"], cwd=command.cwd)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert re.search(r"hosts \([1-9]\d*\)", result.stdout), result.stdout
    elif program in {"ansible-inventory", "ansible-doc"}:
        result = run([program, *args], cwd=command.cwd)
        assert result.returncode == 0 and result.stdout.strip(), f"{command}: {result.stderr}"
    elif program == "sanic":
        options, positionals = options_and_positionals(program, args)
        check_options_exist(["sanic"], options)
        for target in positionals[:1]:
            module, _, attribute = target.partition(":")
            sources = [
                ROOT / "app_instrumentation" / tree / (module.replace(".", "/") + ".py")
                for tree in ("src", "demo")
            ]
            assert any(
                source.is_file() and f"def {attribute}(" in source.read_text() for source in sources
            ), f"{command}: no {target} in the package or the demo app"
        package = ROOT / "app_instrumentation" / "src" / "app_instrumentation"
        code = "".join(path.read_text() for path in package.glob("*.py"))
        for name in command.env:
            assert f'"{name}"' in code, f"{command}: the instrumentation never reads {name}"
    elif program in HOST_TOOLS:
        check_host_command(command, tmp_dir)
    else:
        raise NotRecognised(f"{command}: not a command these checks recognise")


# Programs check_command knows; an inline code span starting with one of them is a command too.
RECOGNISED_PROGRAMS = HOST_TOOLS | {
    "cd", ".", "source", "cp", "make", "sanic",
    "ansible", "ansible-playbook", "ansible-inventory", "ansible-doc",
}  # fmt: skip


def readme_inline_commands(text=README_TEXT):
    """Commands written inline in the prose (`systemctl restart sanic-shop`): a span of two words or
    more that starts with a recognised program. The generated role tables are left out: their one
    command has a placeholder, and scripts/role_docs.py writes it."""
    text = re.sub(
        r"<!-- role-variables:start -->.*<!-- role-variables:end -->", "", text, flags=re.S
    )
    text = re.sub(r"^( *)```.*?^\1```$", "", text, flags=re.MULTILINE | re.DOTALL)
    commands = []
    for span in re.findall(r"`([^`\n]+)`", text):
        words = [word for word in span.split() if not re.match(r"^[A-Z_][A-Z0-9_]*=", word)]
        if len(words) >= 2 and words[0] in RECOGNISED_PROGRAMS:
            commands += readme_commands(f"```sh\n{span}\n```\n")
    return commands


README_COMMANDS = readme_commands()
README_INLINE_COMMANDS = readme_inline_commands()


def test_readme_has_commands_in_sh_blocks():
    assert {command.program for command in README_COMMANDS} >= {
        "make", "ansible-playbook", "systemctl", "promtool",
    }  # fmt: skip


@pytest.mark.parametrize("command", README_COMMANDS, ids=str)
def test_readme_command_is_run_or_checked(command, tmp_path):
    check_command(command, tmp_path)


@pytest.mark.parametrize("command", README_INLINE_COMMANDS, ids=lambda c: shlex.join(c.argv))
def test_readme_inline_command_is_run_or_checked(command, tmp_path):
    check_command(command, tmp_path)


@pytest.mark.parametrize(
    ("snippet", "failure"),
    [
        ("rsync -a docs/ /tmp/x\n", "not a command these checks recognise"),
        ("make deploy\n", "no such Makefile target"),
        ("systemctl status sanic-nosuch\n", "unknown units"),
        ("journalctl -u sanic-shop --no-such-option\n", "has no option --no-such-option"),
        ("ls -la /dev/shm/prom_other\n", "is not a path the roles create"),
        ("curl -s http://127.0.0.1:10011/metrics\n", "is neither"),
        (
            "promtool query instant http://127.0.0.1:9090 'sanic_workers{job=\"sanic-api\"}'\n",
            "not a series",
        ),
        (
            "promtool query instant http://127.0.0.1:9090 'up{job=\"sanic-api\"} >'\n",
            "promtool refuses it",
        ),
        ("cd ansible && ansible-playbook -i ../docs/examples/inventory nosuch.yml\n", "nosuch.yml"),
        ("ansible-playbook -i docs/examples/inventory ansible/site.yml\n", "run it from ansible/"),
    ],
)
def test_a_wrong_or_unknown_command_fails_its_check(snippet, failure, tmp_path):
    commands = readme_commands(f"```sh\n{snippet}```\n")
    with pytest.raises(AssertionError, match=re.escape(failure)):
        for command in commands:
            check_command(command, tmp_path)


def test_an_inline_command_is_checked_and_a_mention_is_not(tmp_path):
    prose = "Restart it (`systemctl restart sanic-nosuch`); `promtool` checks the file."
    commands = readme_inline_commands(prose)
    assert [command.argv for command in commands] == [["systemctl", "restart", "sanic-nosuch"]]
    with pytest.raises(AssertionError, match="unknown units"):
        check_command(commands[0], tmp_path)


def test_every_fenced_block_names_a_known_language():
    """An unlabelled block could hold a command that escapes the checks."""
    assert {language for language, _body, _line in fenced_blocks()} <= FENCE_LANGUAGES


MANUAL_FILES = [ROOT / "README.md", ROOT / "docs" / "DECISIONS.md"]


@pytest.mark.parametrize("path", MANUAL_FILES, ids=lambda path: path.name)
def test_manual_names_only_alerts_the_rules_define(path):
    rules = (ROLE_PATHS["sanic_scrape_job"] / "templates" / "sanic_rules.yml.j2").read_text()
    named = set(re.findall(r"\bSanic[A-Z]\w+", path.read_text()))
    assert named, "names no alert"
    assert named - set(re.findall(r"- alert: (\w+)", rules)) == set()


@pytest.mark.parametrize("path", MANUAL_FILES, ids=lambda path: path.name)
def test_manual_names_only_metrics_the_instrumentation_exports(path):
    families = r"\b(?:http_server|sanic_workers|app_instrumentation_multiprocess)_\w*"
    named = set(re.findall(families, path.read_text()))
    assert named, "names no metric"
    names = exported_metric_names()
    assert {word for word in named if not any(n.startswith(word) for n in names)} == set()


# --- The example inventory ----------------------------------------------------------------------


def test_example_inventory_has_an_app_host_and_a_prometheus_server():
    assert group_hosts("sanic_hosts") == ["app1.example.com"]
    assert group_hosts("prometheus_servers") == ["prom1.example.com"]


def test_site_yml_parses_with_the_example_inventory():
    result = run(
        ["ansible-playbook", "-i", str(EXAMPLE_INVENTORY), "site.yml", "--syntax-check"],
        cwd=ROOT / "ansible",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def spec_errors(role, variables):
    """What the role's argument_specs entry point says about these variables (as Ansible checks)."""
    spec = main_spec(ROLE_PATHS[role])
    return (
        ArgumentSpecValidator(spec)
        .validate({name: value for name, value in variables.items() if name in spec})
        .error_messages
    )


@pytest.mark.parametrize(
    ("role", "group"),
    [
        ("sanic_service", "sanic_hosts"),
        ("sanic_scrape_job", "prometheus_servers"),
        ("prometheus_server", "prometheus_servers"),
    ],
)
def test_example_variables_pass_the_role_argument_specs(role, group):
    for host in group_hosts(group):
        assert spec_errors(role, host_vars(host)) == []


def test_the_spec_check_refuses_a_misspelled_service_key():
    services = [dict(service) for service in host_vars("app1.example.com")["sanic_services"]]
    services[0]["worker"] = services[0].pop("workers")
    errors = spec_errors("sanic_service", {"sanic_services": services})
    assert len(errors) == 1 and errors[0].startswith("sanic_services.worker.")


def test_example_names_only_variables_the_roles_declare():
    """A misspelled role variable would be ignored silently by Ansible, not refused."""
    declared = {name for role_dir in ROLE_DIRS for name in main_spec(role_dir)}
    prefixes = ("sanic_service", "sanic_scrape_job_", "prometheus_server_")
    for host, variables in example_inventory()["_meta"]["hostvars"].items():
        role_variables = {name for name in variables if name.startswith(prefixes)}
        assert role_variables - declared == set(), host


def test_example_services_let_the_health_gate_and_prometheus_scrape():
    """The gate scrapes from 127.0.0.1; Prometheus from its ansible_host, over a bound address."""
    servers = [
        ipaddress.ip_address(host_vars(s)["ansible_host"])
        for s in group_hosts("prometheus_servers")
    ]
    for service in example_services():
        assert service["bind_address"] == "0.0.0.0"
        networks = [
            ipaddress.ip_network(cidr)
            for cidr in service["environment"]["METRICS_ALLOWED_NETWORKS"].split(",")
        ]
        for client in [ipaddress.ip_address("127.0.0.1"), *servers]:
            assert any(client in network for network in networks), (service["name"], client)


def test_readme_example_shows_the_example_files():
    """The README's yaml block is the example inventory, file by file (comments aside)."""
    block = next(body for language, body, _ in fenced_blocks() if "# hosts.yml:" in body)
    documents = [doc for doc in re.split(r"^---\n", block, flags=re.MULTILINE) if doc.strip()]
    shown = {re.match(r"# ([\w./-]+):", doc).group(1): yaml.safe_load(doc) for doc in documents}
    files = {
        str(path.relative_to(EXAMPLE_INVENTORY)): yaml.safe_load(path.read_text())
        for path in EXAMPLE_INVENTORY.rglob("*.yml")
    }
    assert shown == files


# --- Role variables, generated from the argument specs ------------------------------------------


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


def test_every_repository_path_linked_from_readme_exists():
    linked = set(re.findall(r"\]\(((?:docs|dashboards|roles|ansible)/[^)#]*)\)", README_TEXT))
    assert linked, "the README links no file of the repository"
    assert sorted(path for path in linked if not (ROOT / path).exists()) == []


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
