"""What prometheus_server writes for remote write, checked by Prometheus 3.x's own promtool
(Debian testing's, in a container of this test's own, `remotewrite-*`): the configuration of a
server and of an agent (`promtool check config --agent`), and the remote-write alerts' unit tests.
tests/alerting/test_remote_write.py and tests/rules/ check the same on this machine's 2.42."""

import re
import shutil
from pathlib import Path

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    prometheus_server_remote_write as remote_write,
)

from .containers import Fleet, docker

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "roles" / "prometheus_server" / "files" / "remote_write_rules.yml"
UNIT_TESTS = REPO / "tests" / "rules" / "remote_write.test.yml"
CONFIG_DIR = "/etc/prometheus"
STORES = [
    {"name": "mimir", "url": "https://mimir.example.net/api/v1/push",
     "basic_auth": {"username": "site-a", "password": "s3cret"},
     "queue_config": {"max_samples_per_send": 2000}},
    {"name": "vm", "url": "http://vm:8480/insert/0/prometheus/api/v1/write",
     "write_relabel_configs": [{"action": "labeldrop", "regex": "replica"}]},
]  # fmt: skip
APT = ["apt-get", "-o", "Acquire::Check-Valid-Until=false", "-q"]


def copy_into(container: str, source: Path, destination: str) -> None:
    docker("cp", str(source), f"{container}:{destination}")


@pytest.mark.timeout(300)
def test_prometheus_3_accepts_the_written_configuration_and_alerts(tmp_path):
    with Fleet(["prom3"], prefix="remotewrite", platform="spm-prom-forky") as fleet:
        container = fleet.containers["prom3"]
        for argv in (["update"], ["install", "-y", "--no-install-recommends", "prometheus"]):
            installed = fleet.run(container, *APT, *argv)
            assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr
        version = fleet.run(container, "prometheus", "--version").stdout
        assert re.search(r"version 3\.", version), version
        package_config = fleet.run(container, "cat", f"{CONFIG_DIR}/prometheus.yml").stdout
        fleet.run(container, "mkdir", "-p", f"{CONFIG_DIR}/remote_write")
        (tmp_path / "mimir.password").write_text("s3cret")
        copy_into(container, tmp_path / "mimir.password", f"{CONFIG_DIR}/remote_write/")
        copy_into(container, RULES, f"{CONFIG_DIR}/remote_write_rules.yml")

        flag = remote_write.prometheus_server_agent_flag(version)
        assert flag == "--agent"
        for agent in (False, True):
            text = remote_write.prometheus_server_with_remote_write(
                package_config, {"cluster": "site-a", "replica": "prom3"}, STORES, CONFIG_DIR,
                agent, f"{CONFIG_DIR}/remote_write_rules.yml",
            )  # fmt: skip
            written = tmp_path / f"agent-{agent}.yml"
            written.write_text(text)
            copy_into(container, written, f"{CONFIG_DIR}/{written.name}")
            check = fleet.run(
                container, "promtool", "check", "config", *([flag] if agent else []),
                f"{CONFIG_DIR}/{written.name}",
            )  # fmt: skip
            assert check.returncode == 0, f"agent={agent}: {check.stdout}{check.stderr}"

        shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
        copy_into(container, tmp_path / UNIT_TESTS.name, f"{CONFIG_DIR}/{UNIT_TESTS.name}")
        tested = fleet.run(
            container, "sh", "-c", f"cd {CONFIG_DIR} && promtool test rules {UNIT_TESTS.name}"
        )
        assert tested.returncode == 0, tested.stdout + tested.stderr
