"""sanic_scrape_job installs one rules file per SLO the app hosts' services declare, runs their
generated promtool tests, removes the files of an SLO that left the inventory, and refuses a bad
SLO before any change. Real parts: the role's task files run by ansible-playbook on this machine,
real promtool."""

import re

import pytest
from alerting.render import copy_role_with_noted_handler, run_plays

AVAILABILITY = {"kind": "availability", "objective": 99.9, "window": "30d"}
LATENCY = {"kind": "latency", "objective": 99, "window": "28d", "threshold_seconds": 0.25}
PROMTOOL_TESTS_TASK = "Run the SLOs' promtool tests on this server's promtool"


def recap(result, host: str) -> dict[str, int]:
    line = re.search(rf"^{host}\s*:(.*)$", result.stdout, re.MULTILINE)
    assert line, f"no recap line for {host}:\n{result.stdout}{result.stderr}"
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line[1])}


@pytest.fixture
def run_role(tmp_path):
    copy_role_with_noted_handler(
        "sanic_scrape_job", tmp_path / "roles", "sanic_scrape_job reload prometheus", "RELOAD"
    )
    rules_dir, tests_dir = tmp_path / "slos", tmp_path / "slo_tests"
    tasks = [
        {"ansible.builtin.include_role": {"name": "sanic_scrape_job", "tasks_from": name}}
        for name in ("variables", "slos")
    ]
    plays = [{"hosts": "prom", "gather_facts": False, "tasks": tasks}]

    def run(app1_services, app2_services, group_slos=()):
        app_vars = {"sanic_service_slos": list(group_slos)}
        hosts = {
            "prom": {
                "sanic_scrape_job_file_sd_dir": str(tmp_path / "file_sd"),
                "sanic_scrape_job_rules_file": str(tmp_path / "sanic.yml"),
                "sanic_scrape_job_slo_rules_dir": str(rules_dir),
                "sanic_scrape_job_slo_tests_dir": str(tests_dir),
            },
            "app1": {**app_vars, "sanic_services": app1_services},
            "app2": {**app_vars, "sanic_services": app2_services},
        }
        groups = {"sanic_hosts": ["app1", "app2"]}
        return run_plays(plays, {}, tmp_path / "roles", tmp_path, hosts, groups)

    return run, rules_dir, tests_dir


def names(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.timeout(600)
def test_rules_and_tests_per_slo_promtool_proves_them_reruns_change_nothing_removal_cleans(
    run_role,
):
    run, rules_dir, tests_dir = run_role
    shop = {"name": "shop", "slos": [AVAILABILITY]}
    # reports takes the group's SLOs (it declares none); gone is being removed
    app1 = [shop, {"name": "reports"}, {"name": "gone", "state": "absent", "slos": [AVAILABILITY]}]

    first = run(app1, [shop], group_slos=[LATENCY])
    assert recap(first, "prom")["failed"] == 0, first.stdout
    assert names(rules_dir) == ["reports-latency.yml", "shop-availability.yml"]
    assert names(tests_dir) == sorted(
        f"{service}-{window}.test.yml"
        for service in ("reports-latency", "shop-availability")
        for window in ("1h", "6h", "1d", "3d")
    )
    assert re.search(rf"{PROMTOOL_TESTS_TASK}\] \*+\nok: \[prom\]", first.stdout)
    assert "RELOAD" in first.stdout

    again = run(app1, [shop], group_slos=[LATENCY])
    assert recap(again, "prom")["changed"] == 0, again.stdout
    assert re.search(rf"{PROMTOOL_TESTS_TASK}\] \*+\nskipping: \[prom\]", again.stdout)

    # A file edited on the server, or with another mode, is written again and proven again.
    rules, test = rules_dir / "shop-availability.yml", tests_dir / "shop-availability-1h.test.yml"
    installed = rules.read_text(), test.read_text()
    rules.write_text("groups: []\n")
    test.chmod(0o600)
    repaired = run(app1, [shop], group_slos=[LATENCY])
    assert recap(repaired, "prom")["changed"] == 2, repaired.stdout
    assert (rules.read_text(), test.read_text()) == installed
    assert test.stat().st_mode & 0o777 == 0o644
    assert re.search(rf"{PROMTOOL_TESTS_TASK}\] \*+\nok: \[prom\]", repaired.stdout)

    without_shop_slo = run(
        [{"name": "shop", "slos": []}, {"name": "reports"}],
        [{"name": "shop", "slos": []}],
        [LATENCY],
    )
    assert recap(without_shop_slo, "prom")["failed"] == 0, without_shop_slo.stdout
    assert names(rules_dir) == ["reports-latency.yml"]
    assert all(name.startswith("reports-latency-") for name in names(tests_dir))


@pytest.mark.timeout(300)
def test_bad_slos_are_refused_before_any_change_naming_host_service_and_value(run_role):
    run, rules_dir, _ = run_role
    between_buckets = {**LATENCY, "threshold_seconds": 0.3}
    differing = {**AVAILABILITY, "objective": 99.5}

    result = run(
        [{"name": "shop", "slos": [AVAILABILITY]}, {"name": "reports", "slos": [between_buckets]}],
        [{"name": "shop", "slos": [differing]}],
    )

    assert recap(result, "prom")["failed"] == 1
    assert (
        "app1: service reports: slos latency: threshold_seconds = 0.3 is not a bucket boundary"
        in result.stdout
    )
    assert "the nearest are 0.25 and 0.5" in result.stdout
    assert "app2: service shop: slos differ from those on app1" in result.stdout
    assert not rules_dir.exists()
