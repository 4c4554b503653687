"""The alertmanager role's configuration, rendered by Ansible over several inventories, passes the
real `amtool check-config`; bad input is refused by the role's preflight, each problem named."""

import shutil
import subprocess

import pytest
import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import alertmanager as filters

from .render import REPO, render_template

pytestmark = pytest.mark.skipif(
    shutil.which("amtool") is None, reason="amtool: Debian package prometheus-alertmanager"
)

WEBHOOK = {"name": "lab-webhook", "webhook_configs": [{"url": "http://127.0.0.1:9095/"}]}
EMAIL = {"name": "ops-mail", "email_configs": [{"to": "ops@example.org"}]}
SMTP = {"smtp_smarthost": "mail.example.org:587", "smtp_from": "alertmanager@example.org"}

INVENTORIES = {
    "defaults": {},
    "webhook with lab timings": {
        "alertmanager_receivers": [WEBHOOK],
        "alertmanager_route": {
            "receiver": "lab-webhook",
            "group_by": ["alertname", "job", "service", "instance"],
            "group_wait": "5s",
            "group_interval": "10s",
            "repeat_interval": "4h",
        },
    },
    "email through a smarthost, critical alerts to a webhook": {
        "alertmanager_global": {**SMTP, "resolve_timeout": "5m"},
        "alertmanager_receivers": [EMAIL, WEBHOOK],
        "alertmanager_route": {
            "receiver": "ops-mail",
            "group_by": ["alertname", "service"],
            "routes": [{"matchers": ['severity="critical"'], "receiver": "lab-webhook"}],
        },
        "alertmanager_inhibit_rules": [],
    },
}


@pytest.mark.parametrize("inventory", INVENTORIES.values(), ids=INVENTORIES.keys())
def test_rendered_configuration_passes_amtool_check_config(tmp_path, inventory):
    config = tmp_path / "alertmanager.yml"
    render_template("alertmanager", "alertmanager.yml.j2", config, inventory)

    check = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True)

    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout
    rendered = yaml.safe_load(config.read_text())
    assert rendered["route"]["receiver"] in {r["name"] for r in rendered["receivers"]}


def test_default_inhibition_names_only_alerts_the_rules_define():
    defaults = yaml.safe_load(
        (REPO / "roles" / "alertmanager" / "defaults" / "main.yml").read_text()
    )
    rules = (REPO / "roles" / "sanic_scrape_job" / "templates" / "sanic_rules.yml.j2").read_text()
    named = set()
    for rule in defaults["alertmanager_inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            value = matcher.split("=", 1)[1].lstrip("~ ").strip('"')
            named.update(value.split("|"))
    assert named and all(f"- alert: {name}\n" in rules for name in named)


def problems(receivers, route=None, global_settings=None):
    route = route or {"receiver": receivers[0].get("name")}
    return filters.alertmanager_config_problems(receivers, route, global_settings or {})


def test_valid_receivers_have_no_problems():
    assert problems([EMAIL, WEBHOOK], global_settings=SMTP) == []


def test_a_webhook_without_url_is_named():
    assert problems([{"name": "pager", "webhook_configs": [{"send_resolved": True}]}]) == [
        "alertmanager_receivers[0] (pager).webhook_configs[0] has no url or url_file:"
        " where would it send?"
    ]


def test_an_email_without_smarthost_names_the_global_fallback():
    assert problems([EMAIL], global_settings={"smtp_from": "a@example.org"}) == [
        "alertmanager_receivers[0] (ops-mail).email_configs[0] has no smarthost"
        " (or smtp_smarthost in alertmanager_global): no smarthost."
    ]


def test_a_route_to_an_undeclared_receiver_is_named():
    route = {"receiver": "lab-webhook", "routes": [{"receiver": "nobody"}]}
    assert problems([WEBHOOK], route=route) == [
        "alertmanager_route names the receiver 'nobody', which alertmanager_receivers"
        " does not declare."
    ]


def test_two_receivers_of_one_name_are_named():
    assert problems([WEBHOOK, WEBHOOK]) == [
        "alertmanager_receivers[0] (lab-webhook): the name 'lab-webhook' is used by 2 receivers.",
        "alertmanager_receivers[1] (lab-webhook): the name 'lab-webhook' is used by 2 receivers.",
    ]
