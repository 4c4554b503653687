"""Alerts reach the receiver of their severity: every alert the rules define (the SLOs' burn-rate
alerts, severity page or ticket, and the template's own), routed by the real `amtool config routes
test` through the configuration the role renders from the lab's inventory and from the documented
examples (roles/alertmanager/README.md, docs/SLOS.md)."""

import re
import shutil
import subprocess

import pytest
import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.slo import (
    ALERT_NAME,
    BURN_ALERTS,
)

from .render import REPO, render_template

pytestmark = pytest.mark.skipif(
    shutil.which("amtool") is None, reason="amtool: Debian package prometheus-alertmanager"
)

LAB = REPO / "ansible" / "inventories" / "lab" / "group_vars" / "prometheus_servers.yml"
ROLE_README = REPO / "roles" / "alertmanager" / "README.md"
SLOS_PAGE = REPO / "docs" / "SLOS.md"
RULES_TEMPLATE = REPO / "roles" / "sanic_scrape_job" / "templates" / "sanic_rules.yml.j2"


def alert_severities():
    """Each alert name with its severity: the SLOs' four and the rules template's own."""
    severities = {ALERT_NAME.format(long_window=a.long_window): a.severity for a in BURN_ALERTS}
    template = RULES_TEMPLATE.read_text()
    severities.update(re.findall(r"- alert: (\w+)\n(?:.*\n)*?\s+severity: (\w+)", template))
    return severities


def routed_receiver(config, alert, severity):
    test = subprocess.run(
        [
            *("amtool", "config", "routes", "test", f"--config.file={config}"),
            *(f"alertname={alert}", f"severity={severity}", "job=sanic-api", "service=shop"),
        ],
        capture_output=True,
        text=True,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    return test.stdout.strip()


def lab_inventory():
    """The lab's receivers and route; each webhook's host is a template of the inventory's groups,
    so it is written out here, keeping the path that tells the receivers apart."""
    lab = yaml.safe_load(LAB.read_text())
    receivers = [
        {
            "name": receiver["name"],
            "webhook_configs": [
                {"url": "http://127.0.0.1:9095" + config["url"].rsplit("}}", 1)[1]}
                for config in receiver["webhook_configs"]
            ],
        }
        for receiver in lab["alertmanager_receivers"]
    ]
    return {"alertmanager_receivers": receivers, "alertmanager_route": lab["alertmanager_route"]}


def yaml_example(page, key):
    """The first ```yaml block of a page that sets `key`."""
    for block in re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S):
        document = next(yaml.safe_load_all(block))
        if key in document:
            return document
    raise AssertionError(f"{page.name} has no yaml example setting {key}")


def role_readme_inventory():
    """The example as written, with a value for the vaulted password it names."""
    return {**yaml_example(ROLE_README, "alertmanager_route"), "vault_smtp_password": "example"}


def slos_page_inventory():
    route = yaml_example(SLOS_PAGE, "alertmanager_route")["alertmanager_route"]
    receivers = [{"name": name} for name in ("default", "pager", "tickets")]
    return {"alertmanager_receivers": receivers, "alertmanager_route": route}


CASES = {
    "the lab": (lab_inventory, {"page": "lab-page", "ticket": "lab-ticket"}, "lab-webhook"),
    "the role's README": (
        role_readme_inventory,
        {"page": "pager", "critical": "pager", "ticket": "tickets"},
        "ops-mail",
    ),
    "docs/SLOS.md": (slos_page_inventory, {"page": "pager", "ticket": "tickets"}, "default"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_every_alert_reaches_the_receiver_of_its_severity(tmp_path, case):
    inventory, by_severity, fallback = case
    config = tmp_path / "alertmanager.yml"
    render_template("alertmanager", "alertmanager.yml.j2", config, inventory())

    routed = {
        alert: routed_receiver(config, alert, severity)
        for alert, severity in alert_severities().items()
    }

    expected = {
        alert: by_severity.get(severity, fallback) for alert, severity in alert_severities().items()
    }
    assert routed == expected


def test_the_slo_alerts_page_and_ticket_and_the_others_keep_their_severities():
    severities = alert_severities()
    assert {name: severities[name] for name in severities if name.startswith("SanicSLO")} == {
        "SanicSLOBurnRate1h": "page",
        "SanicSLOBurnRate6h": "page",
        "SanicSLOBurnRate1d": "ticket",
        "SanicSLOBurnRate3d": "ticket",
    }
    others = {severities[name] for name in severities if not name.startswith("SanicSLO")}
    assert others == {"critical", "warning"}
    assert len(severities) == len(BURN_ALERTS) + RULES_TEMPLATE.read_text().count("- alert: ")
