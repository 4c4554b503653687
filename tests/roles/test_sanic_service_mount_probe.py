"""sanic_service's multiproc_dir_mount.py, which preflight uses to refuse a metrics directory that
is not on a tmpfs or whose tmpfs cannot hold all the workers' files. Runs against this machine's
own mounts: /dev/shm is a tmpfs here, as on the app hosts.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).resolve().parents[2] / "roles/sanic_service/files/multiproc_dir_mount.py"


def probe(*pairs: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, str(PROBE), *pairs], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


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
