"""The checker of the manual's commands: each is either run here (when cheap and safe) or checked
against the Makefile, the tools' own --help, the example inventory and what the roles create for it.
A command the checks do not recognise fails."""

import functools
import re
import shlex
from urllib.parse import urlsplit

import yaml

from .commands import HOST_TOOLS
from .example import (
    ROOT,
    VENV_BIN,
    example_services,
    exported_metric_names,
    prometheus_servers,
    run,
    target_files,
)
from .markdown import makefile_targets

# Series every Prometheus scrape adds to its target, besides what the services export.
PROMETHEUS_SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


class NotRecognised(AssertionError):
    """A page shows a command the checks below do not know how to verify."""


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
    "app_instrumentation.serve": {"--workers", "--port", "--host", "--backlog"},
}
# How each server command of a page is asked for its options.
SERVER_HELP = {
    "sanic": ["sanic"],
    "app_instrumentation.serve": [str(VENV_BIN / "python"), "-m", "app_instrumentation.serve"],
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
    """Every path on a host a page may name: what the roles create for the example."""
    paths = {"/dev/null", "/dev/shm"}
    for service in example_services():
        paths.update(
            service[key]
            for key in ("multiproc_dir", "tmpfiles_path", "install_dir", "unit_path", "socket_path")
        )
    for server in prometheus_servers():
        paths.update(
            {
                server["sanic_scrape_job_prometheus_config_file"],
                server["sanic_scrape_job_rules_file"],
            }
        )
    return paths | target_files()


def known_units():
    units = {server["sanic_scrape_job_prometheus_service"] for server in prometheus_servers()}
    for service in example_services():
        units.update({service["unit_name"], service["unit_name"].removesuffix(".service")})
        units.add(service["socket_name"])
    return units


def check_url(url):
    """A service's metrics endpoint (from the health gate or Prometheus) or a Prometheus API."""
    parts = urlsplit(url)
    endpoints = set()
    for service in example_services():
        endpoints.add(
            (f"http://{service['gate_address']}:{service['port']}", service["metrics_path"])
        )
        endpoints.add((f"http://{service['scrape_target']}", service["metrics_path"]))
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
    assert selectors, f"{expression}: every selector in the manual names its job"
    known = exported_metric_names() | PROMETHEUS_SCRAPE_SERIES
    jobs = {server["sanic_scrape_job_name"] for server in prometheus_servers()}
    for metric, matchers in selectors:
        assert metric in known, f"{expression}: {metric} is not a series the services export"
        assert re.fullmatch(r'job="([^"]+)"', matchers), f"{expression}: select by job alone"
        assert matchers.split('"')[1] in jobs, f"{expression}: not the example's job {jobs}"
    rules = tmp_dir / "manual_expression.rules.yml"
    rule = {"record": "manual:expr", "expr": expression}
    rules.write_text(yaml.safe_dump({"groups": [{"name": "manual", "rules": [rule]}]}))
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
        assert subcommand in (["check", "config"], ["query", "instant"], ["test", "rules"]), (
            subcommand
        )
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


def check_playbook(command):
    """--syntax-check parses the playbook, the inventory and the roles without touching a host.
    From ansible/ its ansible.cfg applies; elsewhere the command must name the roles' path."""
    assert (command.cwd / "ansible.cfg").is_file() or "ANSIBLE_ROLES_PATH" in command.env, (
        f"{command}: run it from ansible/"
    )
    result = run([command.program, *command.args, "--syntax-check"], command.cwd, command.env)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"


def check_server(command, server, args):
    """A server command line (`sanic` or the launcher): real options, a factory of the package or
    the demo app, and environment variables the instrumentation reads."""
    options, positionals = options_and_positionals(server, args)
    check_options_exist(SERVER_HELP[server], options)
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
        check_playbook(command)
    elif program == "ansible":
        result = run([program, *args, "--list-hosts"], cwd=command.cwd)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert re.search(r"hosts \([1-9]\d*\)", result.stdout), result.stdout
    elif program in {"ansible-inventory", "ansible-doc"}:
        result = run([program, *args], cwd=command.cwd)
        assert result.returncode == 0 and result.stdout.strip(), f"{command}: {result.stderr}"
    elif program == "sanic":
        check_server(command, "sanic", args)
    elif program == "python" and args[:2] == ["-m", "app_instrumentation.serve"]:
        check_server(command, "app_instrumentation.serve", args[2:])
    elif program in HOST_TOOLS:
        check_host_command(command, tmp_dir)
    else:
        raise NotRecognised(f"{command}: not a command these checks recognise")
