"""A service without a usable PROMETHEUS_MULTIPROC_DIR exits non-zero with one line saying why."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from sanic_testkit.service import (
    free_port,
    fresh_multiprocess_dir,
    sanic_command,
    service_environment,
)

TIMEOUT = 60
WORKER_ONLY_BAD_DIR_APP = "worker_only_bad_dir_app:create_app"


@pytest.fixture
def multiprocess_dir():
    path = fresh_multiprocess_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_service(env: dict[str, str], prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, *sanic_command(free_port(), workers=2)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )


def assert_one_line(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("app_instrumentation: error: PROMETHEUS_MULTIPROC_DIR")
    assert "; fix: " in lines[0]
    for text in expected:
        assert text in lines[0]


def test_unset_directory_stops_the_service():
    result = run_service(service_environment(None))

    assert_one_line(result, "PROMETHEUS_MULTIPROC_DIR is not set", "service environment")


def test_missing_directory_stops_the_service(multiprocess_dir):
    missing = os.path.join(multiprocess_dir, "absent")

    result = run_service(service_environment(missing))

    assert_one_line(result, f"PROMETHEUS_MULTIPROC_DIR={missing} does not exist", "tmpfiles")


def test_relative_directory_stops_the_service():
    result = run_service(service_environment("prom"))

    assert_one_line(result, "PROMETHEUS_MULTIPROC_DIR=prom is not an absolute path")


def test_file_instead_of_directory_stops_the_service(multiprocess_dir):
    not_a_dir = os.path.join(multiprocess_dir, "file")
    open(not_a_dir, "w").close()

    result = run_service(service_environment(not_a_dir))

    assert_one_line(result, f"PROMETHEUS_MULTIPROC_DIR={not_a_dir} is not a directory")


def test_read_only_directory_stops_the_service(multiprocess_dir):
    env = service_environment(multiprocess_dir)
    if os.geteuid() == 0:
        # Root writes through any mode bits: make it read-only the way only a mount can.
        if shutil.which("unshare") is None:
            pytest.skip("needs unshare to mount a read-only tmpfs as root")
        prefix = (
            "unshare",
            "--mount",
            "sh",
            "-c",
            'mount -t tmpfs -o ro,size=64k tmpfs "$0" && exec "$@"',
            multiprocess_dir,
        )
    else:
        os.chmod(multiprocess_dir, 0o500)
        prefix = ()

    result = run_service(env, prefix)

    if "mount:" in result.stderr:
        pytest.skip(f"cannot mount a read-only tmpfs here: {result.stderr.strip()}")
    assert_one_line(result, f"PROMETHEUS_MULTIPROC_DIR={multiprocess_dir} is not writable by uid")


def test_directory_set_after_prometheus_client_import_stops_the_process(multiprocess_dir):
    script = textwrap.dedent(
        f"""
        import os
        import prometheus_client
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = {multiprocess_dir!r}
        from app_instrumentation.factory import create_app
        create_app()
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        env=service_environment(None),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert_one_line(result, "was set after prometheus_client was imported", "Environment=")
    assert os.listdir(multiprocess_dir) == []


def test_workers_check_the_directory_too(multiprocess_dir):
    env = service_environment(
        multiprocess_dir, INSTRUMENTED_APP="worker_only_bad_dir_app:create_app"
    )

    result = run_service(env)

    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "app_instrumentation: error" in line]
    assert errors, result.stderr
    assert all(
        "PROMETHEUS_MULTIPROC_DIR=/nonexistent-for-workers does not exist" in line
        for line in errors
    )
