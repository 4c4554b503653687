"""Report the mount, filesystem type and free bytes under each metrics directory, as JSON.

Arguments are `DIR=BYTES` pairs (BYTES: what that service's workers may write there). A directory
that does not exist yet is judged by its nearest existing parent, where systemd-tmpfiles will
create it. `needed_bytes_on_mount` sums BYTES over all directories on the same mount.
"""

import json
import os
import sys


def mount_points():
    """Yield (mount point, fstype) from /proc/self/mountinfo, in mount order."""
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            fields, _, fs_fields = line.partition(" - ")
            mount_point = fields.split()[4].encode().decode("unicode_escape")
            yield mount_point, fs_fields.split()[0]


def containing_mount(path):
    """Return (mount point, fstype) of the longest mount point that contains path."""
    best = ("/", "")
    for mount_point, fstype in mount_points():
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best[0]):
            best = (mount_point, fstype)
    return best


def main(pairs):
    reports = []
    for pair in pairs:
        directory, _, needed = pair.rpartition("=")
        existing = directory
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        mount_point, fstype = containing_mount(os.path.realpath(existing))
        stats = os.statvfs(existing)
        reports.append(
            {
                "dir": directory,
                "mount_point": mount_point,
                "fstype": fstype,
                "available_bytes": stats.f_bavail * stats.f_frsize,
                "needed_bytes": int(needed),
            }
        )
    for report in reports:
        report["needed_bytes_on_mount"] = sum(
            other["needed_bytes"]
            for other in reports
            if other["mount_point"] == report["mount_point"]
        )
    json.dump(reports, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
