"""The bundle as a built collection: `ansible-galaxy collection build` makes the artifact, it
installs into an empty collections path, and from a directory outside the checkout it deploys a
copy of the example inventory (docs/examples/inventory) onto fresh containers of this test's own,
as `ansible-playbook sanic_prometheus.multiprocess.site`. The app host then serves its metrics
with every configured worker live, and the Prometheus server scrapes it; ansible-lint's production
profile passes on the installed tree."""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

from .containers import Fleet

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
EXAMPLE_INVENTORY = REPO / "docs" / "examples" / "inventory"
ARTIFACT = "sanic_prometheus-multiprocess-1.0.0.tar.gz"
APP_HOST, PROMETHEUS_SERVER = "app1.example.com", "prom1.example.com"
# The example's one service (host_vars/app1.example.com.yml).
SERVICE_PORT, SERVICE_WORKERS = 10010, 4
# Each Ansible run here finds only what it is given: the installed collection (and the venv's own
# collections, such as community.docker, on its sys.path); no configuration of the checkout.
CHECKOUT_SETTINGS = ("ANSIBLE_CONFIG", "ANSIBLE_ROLES_PATH", "ANSIBLE_COLLECTIONS_PATH")
# The way into the test's containers, as the lab's (a site reaches its hosts over SSH): docker_api
# with the retry of a temporary directory whose output Docker lost (community.docker #644), which
# failed this test's deploy under load on 2026-12-07. It is the lab's, not the collection's.
LAB_CONNECTION_PLUGINS = REPO / "ansible" / "plugins" / "connection"
pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="docker: Debian docker.io")


def ansible(argv, cwd, collections_path, timeout=600):
    environment = {key: value for key, value in os.environ.items() if key not in CHECKOUT_SETTINGS}
    environment.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections_path),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        # As the checkout's ansible.cfg sets it, and as a site's own should (docs/FIGURES.md).
        ANSIBLE_PIPELINING="True",
        ANSIBLE_CONNECTION_PLUGINS=str(LAB_CONNECTION_PLUGINS),
        PATH=f"{VENV_BIN}:{os.environ['PATH']}",
    )
    return subprocess.run(
        [str(VENV_BIN / argv[0]), *argv[1:]],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The artifact, built from the checkout and installed into an empty collections path."""
    work = tmp_path_factory.mktemp("built-collection")
    build = ansible(
        ["ansible-galaxy", "collection", "build", str(REPO), "--output-path", str(work)],
        work,
        work / "none",
    )
    assert build.returncode == 0, build.stdout + build.stderr
    collections = work / "collections"
    install = ansible(
        ["ansible-galaxy", "collection", "install", "-p", str(collections), str(work / ARTIFACT)],
        work,
        collections,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return collections


def collection_root(collections: Path) -> Path:
    return collections / "ansible_collections" / "sanic_prometheus" / "multiprocess"


def test_the_artifact_carries_what_a_deploy_needs_and_not_the_checkouts_tooling(installed):
    root = collection_root(installed)
    unit = root / "roles/sanic_service/templates/sanic-service.service.j2"
    assert (
        unit.is_symlink()
        and unit.read_text() == (root / "systemd/sanic-service.service.j2").read_text()
    )
    source = root / "roles/sanic_service/files/app_instrumentation"
    assert (source / "pyproject.toml").is_file()
    assert (source / "src/app_instrumentation/access.py").is_file()
    assert (root / "playbooks/site.yml").is_file()
    assert (root / "plugins/filter/sanic_service_resolver.py").is_file()
    assert (root / "dashboards/sanic.json").is_file()
    left_out = [".venv", ".cache", "molecule", "tests", "scripts", "app_instrumentation/tests"]
    left_out += ["dashboards/build.py", "dashboards/__init__.py"]
    assert [name for name in left_out if (root / name).exists()] == []


def test_ansible_lint_production_passes_on_the_installed_collection(installed):
    result = subprocess.run(
        [str(VENV_BIN / "ansible-lint"), "--profile", "production", "--offline"],
        cwd=collection_root(installed),
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed." in result.stdout + result.stderr


SHOP_APP = {
    "shop/__init__.py": "",
    "shop/server.py": (
        "from sanic import Sanic, text\n\n\n"
        "def create_app():\n"
        "    app = Sanic('shop')\n\n"
        "    @app.get('/')\n"
        "    async def index(request):\n"
        "        return text('shop\\n')\n\n"
        "    return app\n"
    ),
    "requirements.txt": "sanic>=25.3,<26\n",
}


def example_inventory(directory: Path, fleet: Fleet, app_source: Path) -> Path:
    """A copy of the example inventory with its hosts pointed at the fleet's containers, reached
    through Docker as root; the app source and the networks allowed to scrape are this test's."""
    inventory = directory / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, inventory)
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    hosts["sanic_hosts"]["hosts"][APP_HOST]["ansible_host"] = fleet.containers["app"]
    hosts["prometheus_servers"]["hosts"][PROMETHEUS_SERVER]["ansible_host"] = fleet.containers[
        "prom"
    ]
    hosts["all"]["vars"] = {
        "ansible_connection": "lab_docker_api",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    app_vars_file = inventory / "host_vars" / f"{APP_HOST}.yml"
    app_vars = yaml.safe_load(app_vars_file.read_text())
    (shop,) = app_vars["sanic_services"]
    assert (shop["port"], shop["workers"]) == (SERVICE_PORT, SERVICE_WORKERS)
    shop["app_source"] = str(app_source)
    shop["environment"]["METRICS_ALLOWED_NETWORKS"] = f"127.0.0.1/32,{fleet.subnet()}"
    app_vars_file.write_text(yaml.safe_dump(app_vars))
    return inventory


def container_get(fleet: Fleet, role: str, url: str) -> str:
    script = (
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())"
    )
    result = fleet.run(fleet.containers[role], "python3", "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout


def scrape_health(fleet: Fleet, target: str, deadline: float) -> str:
    """The health Prometheus reports for the target, once it has scraped it (or at the deadline)."""
    query = urllib.parse.urlencode({"state": "active"})
    while True:
        targets = json.loads(
            container_get(fleet, "prom", f"http://127.0.0.1:9090/api/v1/targets?{query}")
        )
        health = {
            active["labels"].get("instance"): active["health"]
            for active in targets["data"]["activeTargets"]
            if active["labels"].get("job") == "sanic-api"
        }
        if health.get(target) == "up" or time.monotonic() > deadline:
            return health.get(target, f"absent; targets: {health}")
        time.sleep(3)


@pytest.mark.timeout(1200)
def test_the_installed_collection_deploys_the_example_inventory_from_outside_the_checkout(
    installed, tmp_path, capsys
):
    started = time.monotonic()
    app_source = tmp_path / "src" / "shop"
    for name, text in SHOP_APP.items():
        (app_source / name).parent.mkdir(parents=True, exist_ok=True)
        (app_source / name).write_text(text)
    with Fleet(["app", "prom"]) as fleet:
        inventory = example_inventory(tmp_path, fleet, app_source)
        listed = ansible(
            ["ansible-galaxy", "collection", "list", "sanic_prometheus.multiprocess"],
            tmp_path,
            installed,
        )
        assert str(installed) in listed.stdout, listed.stdout + listed.stderr
        deploy = ansible(
            ["ansible-playbook", "-i", str(inventory), "sanic_prometheus.multiprocess.site"],
            tmp_path,
            installed,
            timeout=1080,
        )
        assert deploy.returncode == 0, deploy.stdout[-6000:] + deploy.stderr
        metrics = container_get(fleet, "app", f"http://127.0.0.1:{SERVICE_PORT}/metrics")
        assert f"sanic_workers_live {SERVICE_WORKERS}.0" in metrics.splitlines()
        health = scrape_health(fleet, f"{APP_HOST}:{SERVICE_PORT}", time.monotonic() + 90)
        assert health == "up"
    with capsys.disabled():
        print(
            f"\ntests/collection: build, install and deploy of the built collection took"
            f" {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
