"""sanic_service's host_reads.py, which preflight runs on each app host: its reports of the
filesystem under each metrics directory (to refuse one not on a tmpfs, or whose tmpfs cannot hold
all the workers' files), of the names the host resolves and of its accounts. Runs against this
machine: /dev/shm is a tmpfs here, as on the app hosts.
"""

import os
import platform
import subprocess
from pathlib import Path

from .host_scripts import run


def read_host(**request) -> dict:
    return run("host_reads.py", request)


def probe(*pairs: str) -> list[dict]:
    """The mount reports of `DIR=BYTES` pairs."""
    return read_host(mounts=[[d, int(n)] for d, _, n in (p.rpartition("=") for p in pairs)])[
        "mounts"
    ]


def test_accounts_are_read_as_getent_reads_them():
    passwd = subprocess.run(["getent", "passwd"], capture_output=True, text=True, check=True)
    group = subprocess.run(["getent", "group"], capture_output=True, text=True, check=True)
    report = read_host()
    assert report["passwd"] == {
        line.split(":")[0]: line.split(":")[1:] for line in passwd.stdout.splitlines()
    }
    assert report["group"] == {
        line.split(":")[0]: line.split(":")[1:] for line in group.stdout.splitlines()
    }


def test_names_the_resolver_does_not_resolve_are_reported(tmp_path):
    report = read_host(host_names=["localhost", "spm-unresolvable.invalid"])
    assert report["unresolved"] == ["spm-unresolvable.invalid"]


def test_the_accounts_record_is_read_when_there_is_one(tmp_path):
    record = tmp_path / "created-accounts.json"
    assert read_host(accounts_record=str(record))["accounts_created"] is None
    record.write_text('{"users": ["api"], "groups": ["api"]}')
    assert read_host(accounts_record=str(record))["accounts_created"] == {
        "users": ["api"],
        "groups": ["api"],
    }


def test_a_directory_not_created_yet_is_judged_by_the_tmpfs_it_will_be_on():
    (report,) = probe("/dev/shm/spm_probe_missing/prom_sanic=100")
    assert (report["mount_point"], report["fstype"]) == ("/dev/shm", "tmpfs")
    statvfs = os.statvfs("/dev/shm")
    assert abs(report["available_bytes"] - statvfs.f_bavail * statvfs.f_frsize) < 64 * 1024**2


def test_the_mount_and_type_agree_with_findmnt(tmp_path):
    (report,) = probe(f"{tmp_path}/prom_sanic=1")
    target, fstype = subprocess.run(
        ["findmnt", "--noheadings", "--output", "TARGET,FSTYPE", "--target", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[:2]
    assert (report["mount_point"], report["fstype"]) == (target, fstype)


def test_needs_are_summed_over_the_directories_on_the_same_mount():
    reports = probe("/dev/shm/prom_a=100", "/dev/shm/prom_b=50", "/=7")
    assert [r["needed_bytes_on_mount"] for r in reports] == [150, 150, 7]


def test_the_platform_and_missing_packages_are_read():
    report = read_host(packages=["dpkg", "spm-no-such-package"])
    assert report["platform"] == {
        "python": ".".join(platform.python_version_tuple()[:2]),
        "glibc": platform.libc_ver()[1],
        "arch": platform.machine(),
    }
    assert report["packages_missing"] == ["spm-no-such-package"]


def test_the_service_manager_is_systemd_where_it_runs_else_pid_1s_command():
    # The machines this runs on have had no systemd (PID 1 is a container's init); the lab's hosts
    # run it, and the deploy's preflight refuses a host whose answer is not "systemd".
    pid_1 = Path("/proc/1/comm").read_text().strip()
    expected = "systemd" if os.path.isdir("/run/systemd/system") else pid_1
    assert read_host()["service_manager"] == expected
