"""README's "Alerts, delivered once" gives each lab fault's bound as the alerting check computes it
(molecule/default/vars/alerting.yml) from the lab's timings (ansible/inventories/lab/), and the
SLO page alert's as the SLO burn check does (vars/slo_burn.yml); the formula it states uses those
same timings."""

import math
import re
from decimal import Decimal

import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.slo import (
    ALERT_NAME,
    BURN_ALERTS,
)

from .example import ROOT
from .markdown import README

LAB_PROMETHEUS = ROOT / "ansible" / "inventories" / "lab" / "group_vars" / "prometheus_servers.yml"
SCRAPE_JOB_DEFAULTS = ROOT / "roles" / "sanic_scrape_job" / "defaults" / "main.yml"
ALERTING_VARS = ROOT / "molecule" / "default" / "vars" / "alerting.yml"
SLO_BURN_VARS = ROOT / "molecule" / "default" / "vars" / "slo_burn.yml"
LAB_HOST_VARS = ROOT / "ansible" / "inventories" / "lab" / "host_vars"
SECONDS = {"s": 1, "m": 60, "h": 3600}
# Alertmanager's own peer timeout, where the lab's flags set none.
DEFAULT_PEER_TIMEOUT = 15
# What the check adds to the peer timeout for a notification's way (vars/alerting.yml).
NOTIFICATION_WAY = 13


def seconds(duration):
    return int(duration[:-1]) * SECONDS[duration[-1]]


def lab_settings():
    settings = yaml.safe_load(SCRAPE_JOB_DEFAULTS.read_text())
    settings.update(yaml.safe_load(LAB_PROMETHEUS.read_text()))
    return settings


def fault_setting(value, settings):
    """A fault's `for` or `window`: a duration, or the inventory variable it names."""
    named = re.fullmatch(r"\{\{ hostvars\[verify_prometheus\]\.(\w+) \}\}", value)
    return seconds(settings[named.group(1)] if named else value)


def expected_bounds():
    settings = lab_settings()
    flags = settings.get("alertmanager_extra_flags", [])
    peers = [flag for flag in flags if flag.startswith("--cluster.peer-timeout=")]
    peer_timeout = seconds(peers[0].split("=")[1]) if peers else DEFAULT_PEER_TIMEOUT
    slack = peer_timeout + NOTIFICATION_WAY
    intervals = seconds(settings["sanic_scrape_job_scrape_interval"]) + 2 * seconds(
        settings["sanic_scrape_job_rules_evaluation_interval"]
    )
    route = settings["alertmanager_route"]
    bounds = {}
    for fault in yaml.safe_load(ALERTING_VARS.read_text())["verify_alert_faults"]:
        window = fault_setting(fault["window"], settings)
        firing = fault_setting(fault["for"], settings) + intervals + window + slack
        resolved = window + intervals + seconds(route["group_interval"]) + slack
        bounds[fault["alert"]] = (firing + seconds(route["group_wait"]), resolved)
    bounds.update(slo_burn_bounds(route, intervals, slack))
    return bounds, settings, peer_timeout


def slo_burn_bounds(route, intervals, slack):
    """The SLO check's page alert: an all-bad burn's error ratio over the alert's long window
    crosses its threshold (burn rate x error budget) after long window x threshold / ratio;
    resolved once good requests bring the short window's ratio under the threshold, at the latest
    when the short window holds no bad request (the bound the table gives; each run's own is the
    good requests' time instead of the window)."""
    check = yaml.safe_load(SLO_BURN_VARS.read_text())
    (alert,) = [
        a
        for a in BURN_ALERTS
        if ALERT_NAME.format(long_window=a.long_window) == check["slo_burn_alert"]
    ]
    (slo,) = lab_service(check["slo_burn_service_name"])["slos"]
    threshold = alert.burn_rate * (100 - Decimal(str(slo["objective"]))) / 100
    detection = math.ceil(
        alert.long_seconds * threshold / Decimal(str(check["slo_burn_error_ratio"]))
    )
    firing = detection + intervals + seconds(route["group_wait"]) + slack
    resolved = seconds(alert.short_window) + intervals + seconds(route["group_interval"]) + slack
    return {check["slo_burn_alert"]: (firing, resolved)}


def lab_service(name):
    """The lab inventory's service of that name (exactly one, on one host)."""
    (service,) = [
        service
        for host_vars in sorted(LAB_HOST_VARS.glob("*.yml"))
        for service in yaml.safe_load(host_vars.read_text()).get("sanic_services", [])
        if service["name"] == name
    ]
    return service


def readme_section():
    text = README.read_text()
    return text[text.index("## Alerts, delivered once") :].split("\n## ")[0]


def test_the_alert_tables_bounds_are_the_checks_bounds_from_the_lab_timings():
    bounds, _, _ = expected_bounds()
    rows = re.findall(r"^\| (Sanic\w+) \|[^|]*\| (\d+) s / (\d+) s \|", readme_section(), re.M)
    assert {alert: (int(firing), int(resolved)) for alert, firing, resolved in rows} == bounds


def test_the_alert_tables_formula_names_the_lab_timings():
    _, settings, peer_timeout = expected_bounds()
    section = readme_section()
    route = settings["alertmanager_route"]
    for stated in (
        f"scrape {seconds(settings['sanic_scrape_job_scrape_interval'])} s",
        f"2 x evaluation {seconds(settings['sanic_scrape_job_rules_evaluation_interval'])} s",
        f"group_wait {seconds(route['group_wait'])} s",
        f"group_interval {seconds(route['group_interval'])} s",
        f"+ {peer_timeout + NOTIFICATION_WAY} s (the Alertmanagers' peer timeout, {peer_timeout} s",
        f"the {seconds(settings['sanic_scrape_job_alert_rate_window'])} s rate window",
    ):
        assert stated in section, f"README's alert formula does not say {stated!r}"
