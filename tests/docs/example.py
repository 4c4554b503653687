"""The example inventory (docs/examples/inventory) as Ansible reads it, and what the roles make of
it: the services as the sanic_service resolver returns them, the Prometheus servers' settings, and
the names the instrumentation exports."""

import ast
import functools
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import jinja2
import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_plan,
    sanic_service_resolver,
)

ROOT = Path(__file__).resolve().parents[2]
ROLE_DIRS = sorted(path.parents[1] for path in ROOT.glob("roles/*/meta/argument_specs.yml"))
ROLE_PATHS = {role_dir.name: role_dir for role_dir in ROLE_DIRS}
EXAMPLE_INVENTORY = ROOT / "docs" / "examples" / "inventory"
VENV_BIN = Path(sys.executable).parent
# Resolver keywords that are the host's, not role variables (tasks/resolve.yml passes the same).
HOST_KEYWORDS = {"host_address", "inventory_hostname"}


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


def main_spec(role_dir):
    spec = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def role_defaults(role_dir):
    return yaml.safe_load((role_dir / "defaults" / "main.yml").read_text()) or {}


def declared_variables():
    """The variables an inventory sets: those of each role's `main` entry point."""
    return {name for role_dir in ROLE_DIRS for name in main_spec(role_dir)}


def entry_point_variables():
    """Every variable any entry point of a role declares, e.g. the resolved services."""
    return {
        name
        for role_dir in ROLE_DIRS
        for spec in yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())[
            "argument_specs"
        ].values()
        for name in spec.get("options", {})
    }


@functools.cache
def example_inventory():
    result = run(["ansible-inventory", "-i", str(EXAMPLE_INVENTORY), "--list"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def group_hosts(group):
    return example_inventory().get(group, {}).get("hosts", [])


def host_vars(host):
    return example_inventory()["_meta"]["hostvars"][host]


def role_values(role, host):
    """The role's defaults overlaid with the host's inventory variables."""
    return {**role_defaults(ROLE_PATHS[role]), **host_vars(host)}


def render(value, **variables):
    """A role value as Ansible templates it (strings only; the example needs no more)."""
    if not isinstance(value, str):
        return value
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return environment.from_string(value).render(**variables)


@functools.cache
def example_services():
    """Each example service as the role's resolver returns it, with the host it runs on."""
    resolve = sanic_service_resolver.resolve_services
    keywords = [
        name
        for name, parameter in inspect.signature(resolve).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in HOST_KEYWORDS
    ]
    services = []
    for host in group_hosts("sanic_hosts"):
        values = role_values("sanic_service", host)
        context = {**values, "role_path": str(ROLE_PATHS["sanic_service"])}
        arguments = {key: render(values[f"sanic_service_{key}"], **context) for key in keywords}
        resolved = resolve(
            values["sanic_services"],
            **arguments,
            host_address=values.get("ansible_host", host),
            inventory_hostname=host,
        )
        services += [{**service, "host": host} for service in resolved]
    return services


@functools.cache
def prometheus_servers():
    """Each example Prometheus server with the sanic_scrape_job settings it runs with."""
    return [
        {**role_values("sanic_scrape_job", host), "host": host}
        for host in group_hosts("prometheus_servers")
    ]


def target_files():
    """Each app host's file_sd target file on each server, where scrape_targets.yml writes it
    (the writes its filter plans for every app host scraped by every server)."""
    servers = {server["host"]: server for server in prometheus_servers()}
    app_hosts = group_hosts("sanic_hosts")
    hostvars = {
        **{
            host: {
                "sanic_service_target_text": "",
                "sanic_service_instances": [host],
                "sanic_service_scrape_servers": list(servers),
            }
            for host in app_hosts
        },
        **servers,
    }
    return {
        f"{write['directory']}/{name}"
        for write in sanic_service_plan.target_writes(app_hosts, hostvars)
        for name in write["files"]
    }


@functools.cache
def exported_metric_names():
    """Names the instrumentation declares (histograms with their series suffixes)."""
    names = set()
    trees = [
        ast.parse(source.read_text())
        for source in (ROOT / "app_instrumentation" / "src").rglob("*.py")
    ]
    # Module-level string constants of every module: a name may be declared in one and imported.
    constants = {
        target.id: node.value.value
        for tree in trees
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for tree in trees:
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
