"""The wipe CLI deletes prometheus_client's files and refuses anything that looks wrong."""

import os
import subprocess
import sys

import pytest

from app_instrumentation.wipe import main

CONSOLE_SCRIPT = "app-instrumentation-wipe"
DB_FILES = ("counter_12.db", "histogram_12.db", "gauge_livesum_12.db")


@pytest.fixture
def metrics_dir(tmp_path):
    directory = tmp_path / "prom"
    directory.mkdir()
    for name in DB_FILES:
        (directory / name).write_bytes(b"\0" * 16)
    return directory


def test_removes_every_db_file(metrics_dir, capsys):
    assert main([str(metrics_dir)]) == 0

    assert list(metrics_dir.iterdir()) == []
    assert metrics_dir.is_dir()
    assert f"removed 3 file(s) from {metrics_dir}" in capsys.readouterr().out


def test_empty_directory_is_fine(tmp_path):
    assert main([str(tmp_path)]) == 0


def refused(argv, capsys) -> str:
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.startswith("app-instrumentation-wipe: refused: ")
    assert error.endswith("; nothing deleted\n")
    return error


def test_refuses_root(capsys):
    assert "refusing to wipe /" in refused(["/"], capsys)
    assert "refusing to wipe /" in refused(["//"], capsys)


def test_refuses_relative_paths(metrics_dir, capsys, monkeypatch):
    monkeypatch.chdir(metrics_dir.parent)

    assert "prom is not an absolute path" in refused(["prom"], capsys)
    assert sorted(p.name for p in metrics_dir.iterdir()) == sorted(DB_FILES)


def test_refuses_a_symlink_to_a_metrics_directory(metrics_dir, tmp_path, capsys):
    link = tmp_path / "link"
    link.symlink_to(metrics_dir)

    assert f"{link} is or goes through a symlink" in refused([str(link)], capsys)
    assert len(list(metrics_dir.iterdir())) == len(DB_FILES)


def test_refuses_a_directory_holding_other_files_and_names_the_first(metrics_dir, capsys):
    (metrics_dir / "notes.txt").write_text("keep me")

    error = refused([str(metrics_dir)], capsys)

    assert f"{metrics_dir / 'notes.txt'} is not a prometheus_client *.db file" in error
    assert len(list(metrics_dir.iterdir())) == len(DB_FILES) + 1


@pytest.mark.parametrize("kind", ["subdir.db", "link.db"])
def test_refuses_db_names_that_are_not_regular_files(metrics_dir, capsys, kind):
    if kind == "subdir.db":
        (metrics_dir / kind).mkdir()
    else:
        (metrics_dir / kind).symlink_to("/etc/passwd")

    assert f"{metrics_dir / kind} is not a prometheus_client" in refused([str(metrics_dir)], capsys)
    assert os.path.exists("/etc/passwd")


def test_refuses_a_missing_directory(tmp_path, capsys):
    assert f"{tmp_path / 'absent'} does not exist" in refused([str(tmp_path / "absent")], capsys)


def test_refuses_a_file(metrics_dir, capsys):
    target = metrics_dir / DB_FILES[0]

    assert f"{target} is not a directory" in refused([str(target)], capsys)


def test_refuses_a_directory_owned_by_another_user(metrics_dir, capsys):
    if os.geteuid() != 0:
        pytest.skip("only root can give a directory to another user")
    os.chown(metrics_dir, 65534, 65534)

    error = refused([str(metrics_dir)], capsys)

    assert f"{metrics_dir} is owned by uid 65534, not by the running user (uid 0)" in error
    assert len(list(metrics_dir.iterdir())) == len(DB_FILES)


def test_runs_as_a_module_and_as_the_console_script(metrics_dir):
    module = subprocess.run(
        [sys.executable, "-m", "app_instrumentation.wipe", "relative"], capture_output=True
    )
    script = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "app-instrumentation-wipe"),
            str(metrics_dir),
        ],
        capture_output=True,
    )

    assert module.returncode == 1 and b"not an absolute path" in module.stderr
    assert script.returncode == 0 and list(metrics_dir.iterdir()) == []
