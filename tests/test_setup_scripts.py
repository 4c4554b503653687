"""Bad input to the set-up scripts gets one clear error and a non-zero exit, and changes nothing."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run_script(name, env_overrides, timeout=120):
    env = {**os.environ, **env_overrides}
    return subprocess.run(
        [str(SCRIPTS / name)], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_unknown_platform_in_image_override_is_refused_with_exit_2():
    result = run_script("images.sh", {"SPM_IMAGE_OVERRIDES": "bookworm=reg/x:1 jessie=reg/y:2"})
    assert result.returncode == 2
    assert "unknown platform 'jessie'" in result.stderr
    assert "bookworm trixie forky" in result.stderr


def test_image_override_without_an_image_is_refused_with_exit_2():
    result = run_script("images.sh", {"SPM_IMAGE_OVERRIDES": "trixie"})
    assert result.returncode == 2
    assert "'trixie' must look like SUITE=IMAGE" in result.stderr


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mountpoint)], check=True)
    yield mountpoint
    subprocess.run(["umount", str(mountpoint)], check=True)


def test_image_build_without_disk_space_names_the_directory_and_builds_nothing(tiny_tmpfs):
    repository = "spm-test-no-space"
    result = run_script(
        "images.sh", {"SPM_BUILD_DIR": str(tiny_tmpfs), "SPM_IMAGE_REPOSITORY": repository}
    )
    assert result.returncode == 1
    assert f"free in {tiny_tmpfs}; building an image needs 1024 MB" in result.stderr
    assert list(tiny_tmpfs.iterdir()) == []
    images = subprocess.run(
        ["docker", "images", "-q", repository], capture_output=True, text=True, check=True
    )
    assert images.stdout == ""


def test_dockerd_that_cannot_start_fails_fast_with_its_log(tmp_path):
    broken_config = tmp_path / "daemon.json"
    broken_config.write_text("{ not json")
    log = tmp_path / "dockerd.log"
    result = run_script(
        "ensure-dockerd.sh",
        {
            "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
            "DOCKERD_PIDFILE": str(tmp_path / "dockerd.pid"),
            "DOCKERD_LOG": str(log),
            "DOCKERD_ARGS": f"--config-file {broken_config} --host unix://{tmp_path}/x.sock",
            "DOCKERD_START_TIMEOUT": "30",
        },
    )
    assert result.returncode == 1
    assert "dockerd exited before answering" in result.stderr
    assert str(log) in result.stderr


def test_stale_pid_file_is_told_apart_from_a_live_daemon(tmp_path):
    pidfile = tmp_path / "dockerd.pid"
    pidfile.write_text("999999")
    result = run_script(
        "ensure-dockerd.sh",
        {
            "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
            "DOCKERD_PIDFILE": str(pidfile),
            "DOCKERD_LOG": str(tmp_path / "dockerd.log"),
            "DOCKERD_ARGS": f"--config-file {tmp_path / 'missing.json'}",
            "DOCKERD_START_TIMEOUT": "30",
        },
    )
    assert "removing stale" in result.stderr
    assert "pid '999999' is not a running dockerd" in result.stderr
    assert result.returncode == 1
