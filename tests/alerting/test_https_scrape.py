"""Optional scrapes over HTTPS: a service given a certificate serves HTTPS and Prometheus scrapes it
so, verifying the certificate with the CA the scrape job installs.

The checks on the certificate are sanic_service preflight's (plugins/module_utils/preflight_tls.py).
End to end, all real: sanic_scrape_job's tasks (run by ansible-playbook, every write checked by
promtool) edit a scratch prometheus.yml, sanic_service's template writes the target file, the
launcher serves one service over HTTPS and one over HTTP, and a real Prometheus scrapes both.
"""

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_tls as sanic_service_tls,
)

from sanic_testkit.service import (
    INSTRUMENTED_FACTORY,
    free_port,
    launcher_command,
    service_environment,
)

from .render import copy_role_with_noted_handler, render_template, run_plays

HOST = "app-1"
JOB = "sanic-api"
TIMEOUT = 60
DEBIAN_CONFIG = Path("/etc/prometheus/prometheus.yml")


@pytest.fixture
def service(resolve_services):
    """A service named `name` on `port`, resolved by the role on HOST, with more `keys`."""

    def resolved_service(name="api", port=10010, **keys):
        item = {"name": name, "factory": "app.server:create_app", "port": port, **keys}
        (resolved,) = resolve_services([item], host_address=HOST, inventory_hostname=HOST)
        return resolved

    return resolved_service


# --- preflight ------------------------------------------------------------------------------------
def test_a_service_without_a_certificate_serves_plain_http_and_passes(service):
    api = service()
    assert (api["scheme"], sanic_service_tls.tls_errors([api], HOST)) == ("http", [])


def test_a_service_with_a_matching_certificate_and_key_serves_https(service, tls):
    api = service(tls_cert_file=str(tls / "prom1.crt"), tls_key_file=str(tls / "prom1.key"))
    assert api["scheme"] == "https"
    assert api["host_tls_key"] == "/opt/sanic-services/api/tls/server.key"
    assert sanic_service_tls.tls_errors([api], HOST) == []


def test_a_certificate_without_its_key_is_refused_naming_host_service_and_keys(service, tls):
    api = service(tls_cert_file=str(tls / "prom1.crt"))
    assert sanic_service_tls.tls_errors([api], HOST) == [
        f"{HOST}: sanic_services[name=api].tls_cert_file and sanic_services[name=api].tls_key_file"
        " go together: set both or neither."
    ]


def test_a_certificate_that_does_not_match_its_key_is_refused(service, tls):
    cert, key = tls / "prom1.crt", tls / "prom2.key"
    api = service(tls_cert_file=str(cert), tls_key_file=str(key))
    assert sanic_service_tls.tls_errors([api], HOST) == [
        f"{HOST}: sanic_services[name=api].tls_cert_file {cert} does not match its key"
        f" sanic_services[name=api].tls_key_file {key}."
    ]


def test_a_missing_key_file_is_refused(service, tls):
    missing = tls / "no-such.key"
    api = service(tls_cert_file=str(tls / "prom1.crt"), tls_key_file=str(missing))
    assert sanic_service_tls.tls_errors([api], HOST) == [
        f"{HOST}: sanic_services[name=api].tls_key_file {missing} is not a readable file on the"
        " control node."
    ]


# --- end to end -----------------------------------------------------------------------------------
@pytest.fixture
def scratch(tmp_path):
    """sanic_scrape_job with its reload handler replaced by a note, and Debian's prometheus.yml."""
    copy_role_with_noted_handler(
        "sanic_scrape_job", tmp_path / "roles", "sanic_scrape_job reload prometheus", "RELOAD"
    )
    shutil.copy(DEBIAN_CONFIG, tmp_path / "prometheus.yml")
    return tmp_path


def run_scrape_job(scratch, tls, **overrides):
    """sanic_scrape_job's tasks up to the job in prometheus.yml, with the lab CA to install."""
    variables = {
        "sanic_scrape_job_prometheus_config_file": str(scratch / "prometheus.yml"),
        "sanic_scrape_job_file_sd_dir": str(scratch / "file_sd"),
        "sanic_scrape_job_rules_file": str(scratch / "rules" / "sanic.yml"),
        "sanic_scrape_job_slo_rules_dir": str(scratch / "rules" / "slos"),
        "sanic_scrape_job_scrape_interval": "1s",
        "sanic_scrape_job_tls_ca_source": str(tls / "ca.crt"),
        "sanic_scrape_job_tls_ca_file": str(scratch / "sanic-ca.crt"),
        **overrides,
    }
    tasks = [
        {"ansible.builtin.include_role": {"name": "sanic_scrape_job", "tasks_from": name}}
        for name in ("variables", "preflight", "rules", "tls", "configure")
    ]
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    return run_plays(plays, variables, scratch / "roles", scratch)


def add_scrape_job(scratch, tls, **overrides):
    result = run_scrape_job(scratch, tls, **overrides)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((scratch / "prometheus.yml").read_text())
    return next(job for job in config["scrape_configs"] if job["job_name"] == JOB)


def promtool_check_config(path):
    check = subprocess.run(["promtool", "check", "config", path], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.skipif(not DEBIAN_CONFIG.exists(), reason="Debian package prometheus")
@pytest.mark.timeout(300)
def test_a_ca_to_install_without_its_path_on_the_server_stops_the_role_before_any_change(
    scratch, tls
):
    before = (scratch / "prometheus.yml").read_text()
    result = run_scrape_job(scratch, tls, sanic_scrape_job_tls_ca_file="")
    assert result.returncode != 0
    assert (
        f"sanic_scrape_job_tls_ca_source = '{tls / 'ca.crt'}' on localhost needs"
        " sanic_scrape_job_tls_ca_file" in " ".join(result.stdout.split())
    )
    assert (scratch / "prometheus.yml").read_text() == before


@pytest.mark.skipif(not DEBIAN_CONFIG.exists(), reason="Debian package prometheus")
@pytest.mark.timeout(300)
def test_a_server_name_reaches_the_jobs_tls_config_and_promtool_accepts_it(scratch, tls):
    job = add_scrape_job(scratch, tls, sanic_scrape_job_tls_server_name="app1.example.com")
    assert job["tls_config"] == {
        "ca_file": str(scratch / "sanic-ca.crt"),
        "server_name": "app1.example.com",
    }
    promtool_check_config(scratch / "prometheus.yml")


def launched(port, multiprocess_dir, *options):
    """The launcher serving the demo app with one worker on 127.0.0.1:port."""
    return subprocess.Popen(
        [*launcher_command(INSTRUMENTED_FACTORY, 1, port), "--host", "127.0.0.1", *options],
        env=service_environment(multiprocess_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for_targets(prometheus_url, count):
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"{prometheus_url}/api/v1/targets", timeout=5) as answer:
                targets = [
                    target
                    for target in json.load(answer)["data"]["activeTargets"]
                    if target["labels"]["job"] == JOB
                ]
        except OSError:
            targets = []
        if len(targets) == count and all(t["health"] == "up" for t in targets):
            return targets
        assert time.monotonic() < deadline, f"targets not all up: {targets}"
        time.sleep(0.5)


@pytest.mark.skipif(not DEBIAN_CONFIG.exists(), reason="Debian package prometheus")
@pytest.mark.timeout(300)
def test_prometheus_scrapes_the_https_service_over_verified_tls_and_the_other_over_http(
    service, scratch, tls
):
    secure = service(
        "secure",
        free_port(),
        tls_cert_file=str(tls / "prom1.crt"),
        tls_key_file=str(tls / "prom1.key"),
    )
    plain = service("plain", free_port())
    job = add_scrape_job(scratch, tls)
    (scratch / "file_sd").mkdir(exist_ok=True)
    render_template(
        "sanic_service",
        "file_sd_targets.yml.j2",
        scratch / "file_sd" / f"{HOST}.yml",
        {"sanic_service_instances": [secure, plain], "inventory_hostname": HOST},
    )
    assert job["tls_config"] == {"ca_file": str(scratch / "sanic-ca.crt")}
    assert (scratch / "sanic-ca.crt").read_text() == (tls / "ca.crt").read_text()
    promtool_check_config(scratch / "prometheus.yml")

    tls_options = ["--tls-cert", secure["tls_cert_file"], "--tls-key", secure["tls_key_file"]]
    prometheus_port = free_port()
    with (
        tempfile.TemporaryDirectory(dir="/dev/shm") as secure_dir,
        tempfile.TemporaryDirectory(dir="/dev/shm") as plain_dir,
        launched(secure["port"], secure_dir, *tls_options) as secure_process,
        launched(plain["port"], plain_dir) as plain_process,
        subprocess.Popen(
            [
                "prometheus",
                f"--config.file={scratch / 'prometheus.yml'}",
                f"--storage.tsdb.path={scratch / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as prometheus,
    ):
        try:
            targets = wait_for_targets(f"http://127.0.0.1:{prometheus_port}", 2)
            scrape_urls = sorted(target["scrapeUrl"] for target in targets)
            assert scrape_urls == sorted(
                [
                    f"https://127.0.0.1:{secure['port']}/metrics",
                    f"http://127.0.0.1:{plain['port']}/metrics",
                ]
            )
            with pytest.raises(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{secure['port']}/metrics", timeout=5)
        finally:
            for process in (prometheus, secure_process, plain_process):
                process.terminate()
                process.wait(timeout=15)
