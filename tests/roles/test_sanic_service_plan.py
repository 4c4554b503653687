"""What sanic_service's plan compares (plugins/filter/sanic_service_plan.py): the files a deploy
writes, as wanted, against the host's (files/read_plan.py, run here against this machine), and
which files and services a deploy may leave alone. The fleet's deploy check proves a run with the
same input writes no unit again; this proves the comparison itself, one difference at a time."""

import hashlib
import http.server
import importlib.util
import json
import os
import threading
from pathlib import Path

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_plan as plan,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.test.health_gate import gate_passed

from .host_scripts import FILES, run


def read_host(**request) -> dict:
    return run("read_plan.py", request)


def service(tmp_path, scheme="http", name="api"):
    root = tmp_path / name
    return {
        "name": name,
        "group": "root",
        "scheme": scheme,
        "unit_path": str(root / "unit"),
        "socket_path": str(root / "socket"),
        "tmpfiles_path": str(root / "tmpfiles"),
        "tls_dir": str(root / "tls"),
        "host_tls_cert": str(root / "tls/server.crt"),
        "host_tls_key": str(root / "tls/server.key"),
        "tls_cert_file": str(tmp_path / "source.crt"),
        "tls_key_file": str(tmp_path / "source.key"),
    }


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def deploy(api: dict, contents: dict) -> None:
    """Write the files as unit.yml, directory.yml and tls.yml do (this test runs as root)."""
    for key, text in contents.items():
        path = Path(api[key])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o640 if key.startswith("host_tls") else 0o644)
    if api["scheme"] == "https":
        Path(api["tls_dir"]).chmod(0o750)


@pytest.fixture
def https_service(tmp_path):
    (tmp_path / "source.crt").write_text("CERT\n")
    (tmp_path / "source.key").write_text("KEY\n")
    api = service(tmp_path, scheme="https")
    rendered = {api[key]: sha1(f"{key}\n") for key in ("unit_path", "socket_path", "tmpfiles_path")}
    return api, rendered


def settled_after(api, rendered, change=None):
    wanted = plan.wanted_files([api], rendered)
    deploy(
        api,
        {
            **{key: f"{key}\n" for key in ("unit_path", "socket_path", "tmpfiles_path")},
            "host_tls_cert": "CERT\n",
            "host_tls_key": "KEY\n",
        },
    )
    if change:
        change(api)
    found = read_host(files=list(wanted))["files"]
    return wanted, plan.files_settled(wanted, found, rollback_run=False)


def test_files_written_as_wanted_are_all_settled(https_service):
    wanted, settled = settled_after(*https_service)
    assert settled == sorted(wanted)
    assert plan.files_settled(wanted, read_host(files=list(wanted))["files"], True) == []


@pytest.mark.parametrize(
    ("change", "unsettled"),
    [
        (lambda api: Path(api["unit_path"]).write_text("edited\n"), "unit_path"),
        (lambda api: Path(api["socket_path"]).chmod(0o600), "socket_path"),
        (lambda api: os.remove(api["tmpfiles_path"]), "tmpfiles_path"),
        (lambda api: Path(api["host_tls_key"]).write_text("OTHER KEY\n"), "host_tls_key"),
        (lambda api: Path(api["host_tls_cert"]).chmod(0o644), "host_tls_cert"),
        (lambda api: Path(api["tls_dir"]).chmod(0o755), "tls_dir"),
    ],
)
def test_each_difference_unsettles_its_file_alone(https_service, change, unsettled):
    api, _ = https_service
    wanted, settled = settled_after(*https_service, change=change)
    assert sorted(set(wanted) - set(settled)) == [api[unsettled]]


def test_a_plain_http_service_wants_no_certificate_directory(tmp_path):
    api = service(tmp_path)
    rendered = {api[key]: sha1("x") for key in ("unit_path", "socket_path", "tmpfiles_path")}
    wanted = plan.wanted_files([api], rendered)
    assert wanted[api["tls_dir"]] is None
    assert api["tls_dir"] in plan.files_settled(
        wanted, read_host(files=list(wanted))["files"], False
    )
    Path(api["tls_dir"]).mkdir(parents=True)
    assert api["tls_dir"] not in plan.files_settled(
        wanted, read_host(files=list(wanted))["files"], False
    )


def test_a_service_the_host_read_named_is_not_settled():
    services = [{"name": "api"}, {"name": "api2"}, {"name": "web"}]
    reads = ["api2: sanic-api2.service is not active", "/etc/old.service is still installed"]
    assert plan.services_settled(services, reads, rollback_run=False) == ["api", "web"]
    assert plan.services_settled(services, [], rollback_run=True) == []


def test_a_unit_written_in_this_run_has_its_written_checksum(tmp_path):
    api = service(tmp_path)
    wanted = {api["unit_path"]: {"sha1": "planned"}, api["socket_path"]: {"sha1": "planned-socket"}}
    written = [{"service": api, "checksum": "written"}]
    skipped = [{"service": api, "skipped": True}]
    assert plan.installed_sums(wanted, written, skipped) == {
        api["unit_path"]: "written",
        api["socket_path"]: "planned-socket",
    }
    assert plan.installed_sums(None, written, []) == {api["unit_path"]: "written"}


def test_the_host_read_names_what_a_deploy_would_change(tmp_path):
    install_dir = tmp_path / "api"
    (install_dir / "app-1").mkdir(parents=True)
    (install_dir / "venv-1").mkdir()
    (install_dir / "venv-1/.complete").touch()
    os.symlink("app-1", install_dir / "app")
    os.symlink("venv-0", install_dir / "venv")
    for path in (install_dir, install_dir / "app-1"):
        path.chmod(0o755)
    removed = tmp_path / "old.service"
    removed.touch()
    reads = read_host(
        services=[
            ["api", str(install_dir), "app-1", "venv-1", "spm-none.service", "spm-none.socket"]
        ],
        removed_paths=[str(removed), str(tmp_path / "gone.service")],
    )["reasons"]
    assert reads == [
        "api: the venv link is not venv-1",
        "api: spm-none.service is not enabled",
        "api: spm-none.service is not active",
        "api: spm-none.socket is not enabled",
        "api: spm-none.socket is not active",
        f"{removed} is still installed",
    ]


# --- the gate's request and the work left in place ----------------------------------------------
def load_read_plan():
    """files/read_plan.py as a module: its gate requests then take unit states systemd has not
    here."""
    spec = importlib.util.spec_from_file_location("read_plan", FILES / "read_plan.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MetricsServer:
    """A real HTTP server on 127.0.0.1 answering /metrics as a service with `live` workers, with a
    bearer token when given one; it counts the requests it got."""

    def __init__(self, live: int, token: str | None = None):
        self.requests = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests += 1
                if token and self.headers.get("Authorization") != f"Bearer {token}":
                    self.send_error(401, "Unauthorized")
                    return
                body = f"# HELP sanic_workers_live x\nsanic_workers_live {live}.0\n".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def metrics_server():
    servers = []

    def start(live, token=None):
        servers.append(MetricsServer(live, token))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


ACTIVE = {"sanic-api.service": ("enabled", "active")}


def test_the_gates_request_answers_as_the_gate_judges_it(metrics_server):
    server = metrics_server(live=2)
    answer = load_read_plan().gate_answers(
        [["api", server.url, None, "sanic-api.service"]], ACTIVE
    )["api"]
    assert answer == {"status": 200, "content": "sanic_workers_live 2.0", "msg": ""}
    assert gate_passed(answer, 2)
    assert not gate_passed(answer, 3)


def test_the_gates_request_sends_the_token_of_the_services_file(tmp_path, metrics_server):
    server = metrics_server(live=1, token="s3cret")
    right, wrong = tmp_path / "right", tmp_path / "wrong"
    right.write_text("s3cret\n")
    wrong.write_text("other\n")
    read_plan = load_read_plan()
    answers = read_plan.gate_answers([["api", server.url, str(right), "sanic-api.service"]], ACTIVE)
    assert gate_passed(answers["api"], 1)
    refused = read_plan.gate_answers([["api", server.url, str(wrong), "sanic-api.service"]], ACTIVE)
    assert refused["api"]["status"] == 401
    assert "s3cret" not in json.dumps(refused) and not gate_passed(refused["api"], 1)


def test_an_inactive_service_gets_no_request_and_a_closed_port_no_answer(metrics_server):
    server = metrics_server(live=1)
    # Run as the plan runs it: systemd knows no such unit, so it is not active.
    answers = read_host(gates=[["api", server.url, None, "spm-none.service"]])["gates"]
    assert answers["api"] == {
        "status": None,
        "content": "",
        "msg": "spm-none.service is not active",
    }
    assert server.requests == 0
    closed = server.url
    server.close()
    answer = load_read_plan().gate_answers([["api", closed, None, "sanic-api.service"]], ACTIVE)
    assert answer["api"]["status"] is None and answer["api"]["msg"]


def in_place_service(tmp_path):
    return {
        **service(tmp_path),
        "workers": 2,
        "gate_url": "http://127.0.0.1:10010/metrics",
        "install_dir": str(tmp_path / "api"),
        "app_version": "app-1",
        "venv_version": "venv-1",
        "keep_releases": 1,
    }


def settled_host(api):
    wanted = {api["unit_path"]: {"sha1": "x"}, api["tls_dir"]: None}
    return {
        "removals": [],
        "accounts_missing": [],
        "packages_missing": [],
        "wanted": wanted,
        "settled_files": sorted(wanted),
        "settled_services": ["api"],
        "gates": {"api": {"status": 200, "content": "sanic_workers_live 2", "msg": ""}},
        "releases": {
            "api": {
                "releases": ["app-1 venv-1"],
                "versions": [f"{api['install_dir']}/app-1", f"{api['install_dir']}/venv-1"],
            }
        },
    }


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            lambda host, api: host.update(removals=[{"name": "old"}]),
            "old: marked absent, to remove",
        ),
        (
            lambda host, api: host.update(packages_missing=["python3-venv"]),
            "package python3-venv to install",
        ),
        (lambda host, api: host.update(accounts_missing=["api"]), "account api to create"),
        (lambda host, api: host.update(settled_files=[api["tls_dir"]]), "{unit_path} to write"),
        (lambda host, api: host.update(settled_services=[]), "api: to install, link or start"),
        (
            lambda host, api: host["gates"]["api"].update(content="sanic_workers_live 1"),
            "api: http://127.0.0.1:10010/metrics did not answer with sanic_workers_live 2"
            " (HTTP 200; sanic_workers_live 1)",
        ),
        (
            lambda host, api: host["gates"].update(
                api={"status": None, "content": "", "msg": "refused"}
            ),
            "api: http://127.0.0.1:10010/metrics did not answer with sanic_workers_live 2"
            " (HTTP None; refused; no sanic_workers_live line)",
        ),
        (
            lambda host, api: host["releases"]["api"].update(releases=[]),
            "api: its releases file to record",
        ),
        (
            lambda host, api: host["releases"]["api"]["versions"].append(
                f"{api['install_dir']}/app-0"
            ),
            "{install_dir}/app-0 to remove",
        ),
    ],
)
def test_each_thing_left_to_do_in_place_unsettles_the_host_alone(tmp_path, change, line):
    api = in_place_service(tmp_path)
    host = settled_host(api)
    assert plan.in_place_work([api], **host) == []
    change(host, api)
    assert plan.in_place_work([api], **host) == [line.format(**api)]


def test_the_gates_request_names_each_services_url_token_file_and_unit(tmp_path):
    api = in_place_service(tmp_path)
    api["unit_name"] = "sanic-api.service"
    token = {**api, "name": "web", "environment": {"METRICS_BEARER_TOKEN_FILE": "/etc/web/token"}}
    assert plan.gate_read_request([api, token]) == [
        ["api", api["gate_url"], None, "sanic-api.service"],
        ["web", api["gate_url"], "/etc/web/token", "sanic-api.service"],
    ]


def test_the_started_read_gives_each_record_socket_and_certificate_sums(tmp_path):
    record = tmp_path / "started-revision"
    record.write_text("app-1 venv-1 unit socket\n")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    cert.write_text("CERT\n")
    started = read_host(
        started=[
            ["api", str(record), "spm-none.socket", "https", str(cert), str(key)],
            ["new", str(tmp_path / "none"), "spm-none.socket", "http", str(cert), str(key)],
        ]
    )["started"]
    assert started == {
        "api": {
            "started": "app-1 venv-1 unit socket",
            "listening": False,
            # The key check mode has not installed is left out, as sha256sum printed nothing for it.
            "tls": f"{hashlib.sha256(cert.read_bytes()).hexdigest()}  {cert}",
        },
        "new": {"started": "", "listening": False, "tls": None},
    }
    assert load_read_plan().started_reads(
        [["api", str(record), "sanic-api.socket", "http", "", ""]],
        {"sanic-api.socket": ("enabled", "active")},
    )["api"]["listening"]


# --- the target files, one write per Prometheus server -------------------------------------------
def test_each_server_gets_one_write_with_the_files_of_the_hosts_it_scrapes():
    hostvars = dict(
        app1={
            "sanic_service_target_text": "one\n",
            "sanic_service_instances": [{}],
            "sanic_service_scrape_servers": ["prom1", "prom2"],
        },
        app2={
            "sanic_service_target_text": "two\n",
            "sanic_service_instances": [],
            "sanic_service_scrape_servers": ["prom2"],
        },
        prom1={"sanic_scrape_job_file_sd_dir": "/etc/p1"},
        prom2={"sanic_scrape_job_file_sd_dir": "/etc/p2"},
    )
    assert plan.target_writes(["app1", "app2"], hostvars) == [
        {"server": "prom1", "directory": "/etc/p1", "files": {"app1.yml": "one\n"}},
        # A host that runs no service has its file removed.
        {
            "server": "prom2",
            "directory": "/etc/p2",
            "files": {"app1.yml": "one\n", "app2.yml": None},
        },
    ]


def write_targets(directory, files, check=False):
    return run("write_targets.py", {"directory": str(directory), "files": files, "check": check})


def test_the_targets_write_changes_only_what_differs_and_check_mode_nothing(tmp_path):
    directory = tmp_path / "file_sd"
    planned = write_targets(directory, {"app1.yml": "one\n"}, check=True)
    assert planned["changed"] == [str(directory), str(directory / "app1.yml")]
    assert planned["diffs"] == [
        ["--- /dev/null", f"+++ {directory / 'app1.yml'}", "@@ -0,0 +1 @@", "+one"]
    ]
    assert not directory.exists()
    assert write_targets(directory, {"app1.yml": "one\n"})["changed"] == planned["changed"]
    assert (directory / "app1.yml").read_text() == "one\n"
    assert oct((directory / "app1.yml").stat().st_mode & 0o777) == "0o644"
    assert oct(directory.stat().st_mode & 0o777) == "0o755"
    (directory / "app2.yml").write_text("stale\n")
    (directory / "app2.yml").chmod(0o644)
    assert write_targets(directory, {"app1.yml": "one\n", "app2.yml": "stale\n"})["changed"] == []
    (directory / "app1.yml").chmod(0o600)
    changed = write_targets(directory, {"app1.yml": "one\n", "app2.yml": None, "app3.yml": None})
    assert changed["changed"] == [str(directory / "app1.yml"), str(directory / "app2.yml")]
    # A mode alone changed: no line differs.
    assert changed["diffs"][0] == []
    assert changed["diffs"][1][:2] == [f"--- {directory / 'app2.yml'}", "+++ /dev/null"]
    assert sorted(path.name for path in directory.iterdir()) == ["app1.yml"]
    assert oct((directory / "app1.yml").stat().st_mode & 0o777) == "0o644"
