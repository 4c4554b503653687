"""The example inventory (docs/examples/inventory) is one Ansible reads and the roles accept, the
README shows it file by file, and its services are what the role's resolver makes of them."""

import ipaddress
import re

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from .example import (
    EXAMPLE_INVENTORY,
    ROLE_PATHS,
    ROOT,
    declared_variables,
    example_inventory,
    example_services,
    group_hosts,
    host_vars,
    main_spec,
    run,
)
from .markdown import README, fenced_blocks


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
    declared = declared_variables()
    prefixes = ("sanic_service", "sanic_scrape_job_", "prometheus_server_")
    for host, variables in example_inventory()["_meta"]["hostvars"].items():
        role_variables = {name for name in variables if name.startswith(prefixes)}
        assert role_variables - declared == set(), host


def test_example_services_are_the_resolvers_one_per_item():
    """What the docs tests read of a service (unit, paths, addresses) comes from the role."""
    items = [
        item["name"]
        for host in group_hosts("sanic_hosts")
        for item in host_vars(host)["sanic_services"]
    ]
    services = example_services()
    assert [service["name"] for service in services] == items
    for service in services:
        assert {"unit_name", "unit_path", "tmpfiles_path", "install_dir", "gate_address"} <= set(
            service
        )


def test_example_services_let_the_health_gate_and_prometheus_scrape():
    """The gate scrapes from its gate address; Prometheus from its ansible_host."""
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
        for client in [ipaddress.ip_address(service["gate_address"]), *servers]:
            assert any(client in network for network in networks), (service["name"], client)


def test_readme_example_shows_the_example_files():
    """The README's yaml block is the example inventory, file by file (comments aside)."""
    blocks = fenced_blocks(README.read_text())
    block = next(body for language, body, _ in blocks if "# hosts.yml:" in body)
    documents = [doc for doc in re.split(r"^---\n", block, flags=re.MULTILINE) if doc.strip()]
    shown = {re.match(r"# ([\w./-]+):", doc).group(1): yaml.safe_load(doc) for doc in documents}
    files = {
        str(path.relative_to(EXAMPLE_INVENTORY)): yaml.safe_load(path.read_text())
        for path in EXAMPLE_INVENTORY.rglob("*.yml")
    }
    assert shown == files
