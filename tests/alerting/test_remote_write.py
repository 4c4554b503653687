"""Remote write from prometheus_server: bad settings refused before any change, naming host and
variable (plugins/filter/prometheus_server_remote_write.py, over generated values, and through
the role's `variables` entry point across two servers); the configuration the role writes into
Debian's prometheus.yml passes the real promtool (2.42 here; 3.x in test_victoria_metrics_role.py).
"""

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    prometheus_server_alerting as alerting,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    prometheus_server_remote_write as remote_write,
)

from .render import REPO, run_plays

HOST = "prom1"
DEBIAN_CONFIG = Path("/etc/prometheus/prometheus.yml")
SCHEMES = ["http://", "https://"]
STORES = ["vm", "vm.example.net", "10.0.0.5", "mimir-gateway.obs.svc"]
PORTS = ["", ":8428", ":443", ":9009"]
PATHS = ["", "/api/v1/write", "/api/v1/push", "/api/v1/receive", "/insert/0/prometheus/"]
# Scrape intervals against dedup intervals, in seconds as Prometheus durations write them.
DURATIONS = {
    "500ms": 0.5,
    "5s": 5,
    "15s": 15,
    "30s": 30,
    "1m": 60,
    "1m30s": 90,
    "2m": 120,
    "1h": 3600,
}
NOT_DURATIONS = ["15", "15 s", "s", "1.5m", "15sec", "-5s", "5S", "m1"]


def problems(entries=(), **keys):
    arguments = {
        "host": HOST,
        "cluster": "site-a",
        "replica": HOST,
        "play_servers": [(HOST, "site-a", "")],
        "store_dedup_interval": "",
        "scrape_interval": "15s",
        "agent": False,
        "alertmanagers": [],
        **keys,
    }
    return remote_write.prometheus_server_remote_write_problems(list(entries), **arguments)


def assert_named(found, variable, *words):
    assert found
    for message in found:
        assert message.startswith(f"{HOST}: {variable}"), message
        for word in words:
            assert word in message


def store(url="https://vm.example.net/api/v1/write", **keys):
    return {"name": "vm", "url": url, **keys}


@pytest.mark.parametrize(
    "url", ["".join(parts) for parts in itertools.product(SCHEMES, STORES, PORTS, PATHS)]
)
def test_a_url_with_its_scheme_is_allowed(url):
    assert problems([store(url)]) == []


@pytest.mark.parametrize(
    "url",
    ["".join(parts) for parts in itertools.product(STORES, PORTS, PATHS)]
    + ["ftp://vm/api/v1/write", "//vm:8428/api/v1/write", "https:/vm", "", "https://"],
)
def test_a_url_without_scheme_is_refused(url):
    assert_named(problems([store(url)]), "prometheus_server_remote_write[0] (vm).url", "scheme")


def test_basic_auth_and_a_bearer_token_together_are_refused(tmp_path):
    token = tmp_path / "token"
    token.write_text("t0ken")
    both = store(basic_auth={"username": "a", "password": "b"}, bearer_token_file=str(token))
    assert_named(problems([both]), "prometheus_server_remote_write[0] (vm)", "use one of them")
    assert problems([store(bearer_token_file=str(token))]) == []


@pytest.mark.parametrize("missing", ["/nonexistent/token", "relative/token", "/etc"])
def test_a_bearer_token_file_missing_on_the_control_node_is_refused(missing):
    assert_named(
        problems([store(bearer_token_file=missing)]),
        "prometheus_server_remote_write[0] (vm).bearer_token_file",
        missing,
        "missing",
    )


@pytest.mark.parametrize(("scrape", "dedup"), list(itertools.product(DURATIONS, DURATIONS)))
def test_a_dedup_interval_below_the_scrape_interval_is_refused(scrape, dedup):
    found = problems([store()], scrape_interval=scrape, store_dedup_interval=dedup)
    if DURATIONS[dedup] < DURATIONS[scrape]:
        assert_named(found, "prometheus_server_store_dedup_interval", dedup, scrape)
    else:
        assert found == []


@pytest.mark.parametrize("value", NOT_DURATIONS)
def test_an_interval_that_is_no_duration_is_refused(value):
    assert_named(problems(store_dedup_interval=value), "prometheus_server_store_dedup_interval")
    assert_named(problems(scrape_interval=value), "prometheus_server_scrape_interval")


@pytest.mark.parametrize("servers", range(2, 6))
def test_a_replica_shared_within_a_cluster_is_refused_and_across_clusters_allowed(servers):
    others = [(f"prom{number}", "site-a", "r") for number in range(2, servers + 1)]
    found = problems(replica="r", play_servers=[(HOST, "site-a", "r"), *others])
    assert_named(found, "prometheus_server_replica", "'r'", *(host for host, _, _ in others))
    elsewhere = [(host, "site-b", "r") for host, _, _ in others]
    assert problems(replica="r", play_servers=[(HOST, "site-a", "r"), *elsewhere]) == []
    # An empty replica is the host's name: distinct hosts never share it.
    defaults = [(f"prom{number}", "site-a", "") for number in range(1, servers + 1)]
    assert problems(play_servers=defaults) == []


def test_remote_write_without_a_cluster_and_an_agent_without_a_store_are_refused():
    assert_named(problems([store()], cluster=""), "prometheus_server_cluster")
    assert_named(problems(agent=True), "prometheus_server_agent_mode", "remote_write")
    assert_named(
        problems([store()], agent=True, alertmanagers=["am:9093"]),
        "prometheus_server_agent_mode",
        "alertmanagers",
    )


def test_equal_replicas_and_a_short_dedup_interval_stop_the_role_naming_each_host(tmp_path):
    include = {
        "ansible.builtin.include_role": {"name": "prometheus_server", "tasks_from": "variables"}
    }
    plays = [{"hosts": "all", "gather_facts": False, "tasks": [include]}]
    common = {"prometheus_server_cluster": "lab", "prometheus_server_remote_write": [store()]}
    hosts = {
        "prom1": {**common, "prometheus_server_replica": "a"},
        "prom2": {**common, "prometheus_server_replica": "a"},
        "prom3": {**common, "prometheus_server_store_dedup_interval": "5s"},
    }
    result = run_plays(plays, {}, REPO / "roles", tmp_path, hosts=hosts)
    assert result.returncode != 0
    assert "prom1: prometheus_server_replica 'a' of cluster 'lab' is also the replica of prom2" in (
        result.stdout
    )
    assert "prom2: prometheus_server_replica 'a' of cluster 'lab' is also the replica of prom1" in (
        result.stdout
    )
    assert "prom3: prometheus_server_store_dedup_interval 5s is below the scrape interval 15s" in (
        result.stdout
    )
    assert "Nothing was changed." in result.stdout


# --- the configuration written --------------------------------------------------------------------
def written_config(config_dir: Path, agent=False) -> str:
    """Debian's prometheus.yml with the role's labels and a store of each kind."""
    secrets = config_dir / "remote_write"
    secrets.mkdir()
    for name in ("mimir.password", "thanos.token"):
        (secrets / name).write_text("s3cret")
    entries = [
        store("https://mimir.example.net/api/v1/push", name="mimir",
              basic_auth={"username": "site-a", "password": "s3cret"},
              queue_config={"max_samples_per_send": 2000, "capacity": 10000},
              write_relabel_configs=[{"source_labels": ["__name__"], "regex": "go_.*",
                                      "action": "drop"}]),
        store("https://thanos.example.net/api/v1/receive", name="thanos",
              bearer_token_file=str(secrets / "thanos.token"),
              tls_config={"insecure_skip_verify": False, "server_name": "thanos.example.net"}),
        store("http://vm:8428/api/v1/write"),
    ]  # fmt: skip
    labels = {"cluster": "site-a", "__replica__": "prom1"}
    shutil.copy(REPO / "roles/prometheus_server/files/remote_write_rules.yml", config_dir)
    return remote_write.prometheus_server_with_remote_write(
        DEBIAN_CONFIG.read_text(), labels, entries, str(config_dir), agent,
        str(config_dir / "remote_write_rules.yml"),
    )  # fmt: skip


needs_debian_prometheus = pytest.mark.skipif(
    shutil.which("promtool") is None or not DEBIAN_CONFIG.is_file(),
    reason="promtool and prometheus.yml: Debian prometheus",
)


@needs_debian_prometheus
@pytest.mark.parametrize("agent", [False, True], ids=["server", "agent"])
def test_the_written_configuration_passes_promtool(tmp_path, agent):
    text = written_config(tmp_path, agent)
    (tmp_path / "prometheus.yml").write_text(text)
    check = subprocess.run(
        ["promtool", "check", "config", tmp_path / "prometheus.yml"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load(text)
    assert config["global"]["external_labels"] == {"cluster": "site-a", "__replica__": "prom1"}
    assert [entry["name"] for entry in config["remote_write"]] == ["mimir", "thanos", "vm"]
    assert config["remote_write"][0]["basic_auth"]["password_file"] == (
        f"{tmp_path}/remote_write/mimir.password"
    )
    assert config["remote_write"][1]["authorization"]["credentials_file"] == (
        f"{tmp_path}/remote_write/thanos.token"
    )
    assert ("alerting" in config) is not agent
    # An agent evaluates no rules: the remote-write alerts go only to a full server.
    assert (config["rule_files"] or []) == ([] if agent else [f"{tmp_path}/remote_write_rules.yml"])
    assert "s3cret" not in text


@needs_debian_prometheus
def test_writing_twice_changes_nothing_and_empty_settings_restore_the_package_file(tmp_path):
    once = written_config(tmp_path)
    again = remote_write.prometheus_server_with_remote_write(
        once,
        {"cluster": "site-a", "__replica__": "prom1"},
        [store("http://vm:8428/api/v1/write")],
        str(tmp_path),
    )
    assert again.count("remote_write:") == 1
    assert again.count("external_labels:") == 1
    package = DEBIAN_CONFIG.read_text()
    untouched = remote_write.prometheus_server_with_remote_write(package, {}, [], str(tmp_path))
    assert yaml.safe_load(untouched) == yaml.safe_load(package)


SCRAPE_JOB_RULES = (
    "# BEGIN sanic_scrape_job rule_files\n  - /etc/prometheus/rules/sanic.yml\n"
    "# END sanic_scrape_job rule_files\n"
)


def scrape_job_rules(text):
    """What sanic_scrape_job's blockinfile does after this role: its block right under
    `rule_files:` the first time, left where it is afterwards."""
    if SCRAPE_JOB_RULES in text:
        return text
    return re.sub(r"(?m)^rule_files:[ \t]*\n", lambda m: m.group(0) + SCRAPE_JOB_RULES, text)


@needs_debian_prometheus
def test_the_roles_blocks_stay_in_place_run_after_run(tmp_path):
    """A site.yml run writes prometheus.yml in three steps: this role's alerting block, its
    remote-write blocks, then sanic_scrape_job's. Each of this role's blocks used to put itself
    back at its first place (the end, right under `rule_files:`), in front of another's, so every
    run changed the file and restarted Prometheus (found by the lab's idempotence step)."""
    labels = {"cluster": "site-a", "replica": "prom1"}
    stores = [store("http://vm:8428/api/v1/write")]
    alertmanagers = ["am1:9093", "am2:9093"]
    rules_file = str(tmp_path / "remote_write_rules.yml")

    def one_run(text):
        text = alerting.prometheus_server_with_alerting(text, alertmanagers, None, "replica")
        text = remote_write.prometheus_server_with_remote_write(
            text, labels, stores, str(tmp_path), False, rules_file
        )
        return scrape_job_rules(text)

    first = one_run(DEBIAN_CONFIG.read_text())
    second = one_run(first)
    assert second == first
    config = yaml.safe_load(first)
    dropped = [{"action": "labeldrop", "regex": "replica"}]
    assert config["alerting"]["alert_relabel_configs"] == dropped
    assert [entry["name"] for entry in config["remote_write"]] == ["vm"]
    assert config["rule_files"] == ["/etc/prometheus/rules/sanic.yml", rules_file]
    # Without a store, the remote-write blocks go and the others stay as they were.
    without_store = yaml.safe_load(
        remote_write.prometheus_server_with_remote_write(
            first, labels, [], str(tmp_path), False, rules_file
        )
    )
    assert "remote_write" not in without_store
    assert without_store["rule_files"] == ["/etc/prometheus/rules/sanic.yml"]
    assert without_store["alerting"] == config["alerting"]


@pytest.mark.parametrize(
    ("version", "flag"),
    [
        ("prometheus, version 2.42.0+ds (branch: debian/sid)", "--enable-feature=agent"),
        ("prometheus, version 2.53.3+ds1 (branch: debian/sid)", "--enable-feature=agent"),
        ("prometheus, version 3.5.3+ds1 (branch: debian/sid)", "--agent"),
        ("prometheus, version 10.0.0", "--agent"),
    ],
)
def test_agent_mode_takes_the_flag_of_the_installed_version(version, flag):
    assert remote_write.prometheus_server_agent_flag(version) == flag
