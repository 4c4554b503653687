"""What sanic_service's plan compares (plugins/filter/sanic_service_plan.py): the files a deploy
writes, as wanted, against the host's (files/read_plan.py, run here against this machine), and
which files and services a deploy may leave alone. The fleet's deploy check proves a run with the
same input writes no unit again; this proves the comparison itself, one difference at a time."""

import hashlib
import os
from pathlib import Path

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_plan as plan,
)

from .host_scripts import run


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
