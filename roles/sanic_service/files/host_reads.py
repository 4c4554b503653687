"""Report, as JSON, everything preflight reads on an app host, in one run: its checks were one
command or module run each.

The one argument is a JSON object:
- "ports": [[PORT, NAME], ...]; "removed": [NAME, ...] (the services this run removes first).
  "port_holders" lists for each pair {"port", "name", "holders": [...]}, each holder
  "COMMAND (pid PID, UNIT)": a process with a listening TCP socket (IPv4 or IPv6) on that port.
  Not holders: the processes of `sanic-NAME.service` (a service deployed before socket units binds
  the port itself), and systemd (PID 1) while `sanic-NAME.socket` lists the port; the same for
  each removed service, whose port a kept service may take. Read from /proc, so the host needs no
  ss or lsof.
- "mounts": [[DIR, BYTES], ...] (BYTES: what that service's workers may write there), and
  "removal_mounts": [DIR, ...]. Each report gives the mount, filesystem type and free bytes under
  the directory; one that does not exist yet is judged by its nearest existing parent, where
  systemd-tmpfiles will create it. `needed_bytes_on_mount` sums BYTES over the directories on the
  same mount.
- "host_names": [NAME, ...]: "unresolved" lists those the host's resolver (NSS, as getent) does
  not resolve.
- "accounts_record": a path: "accounts_created" is its JSON, null when there is none.
- "packages": [NAME, ...]: "packages_missing" lists those dpkg does not have installed.
"platform" is the host's CPython version, glibc version and CPU, which select its wheels.
"service_manager" is "systemd" when systemd runs the host (its /run/systemd/system, as systemd's
own sd_booted() and Ansible's service_mgr fact test), else PID 1's command name.
"passwd" and "group" are the host's accounts as `getent passwd|group` reads them
({name: [fields after the name]}).
"""

import grp
import json
import os
import platform
import pwd
import socket
import subprocess
import sys

LISTEN = "0A"


def listening_inodes():
    """Map each listening TCP socket's inode to its local port."""
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows)
                for row in rows:
                    fields = row.split()
                    if fields[3] == LISTEN:
                        inodes[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
        except FileNotFoundError:  # no IPv6 in this kernel
            continue
    return inodes


def unit_of(pid):
    """The systemd unit a process runs in: the last component of its cgroup path."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as cgroup:
            paths = [line.rstrip("\n").split(":", 2)[2] for line in cgroup]
    except OSError:
        return ""
    unified = [path for path in paths if path] or [""]
    return unified[-1].rsplit("/", 1)[-1]


def command_of(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as comm:
            return comm.read().strip()
    except OSError:
        return "?"


def holders_by_port(ports):
    inodes = listening_inodes()
    found = {port: {} for port in ports}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # exited, or not ours to read
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                port = inodes.get(target[8:-1])
                if port in found:
                    found[port][int(pid)] = None
    return found


def socket_listens(name, port):
    """True if systemd's socket unit of the service is active and listens on the port."""
    result = subprocess.run(
        ["systemctl", "show", "--property", "ActiveState,Listen", f"sanic-{name}.socket"],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = dict(line.partition("=")[::2] for line in result.stdout.splitlines())
    listens = lines.get("Listen", "").split()
    return lines.get("ActiveState") == "active" and any(
        address.endswith(f":{port}") or address == str(port) for address in listens
    )


def port_holders(services, removed):
    found = holders_by_port({port for port, _ in services})
    report = []
    for port, name in services:
        holders = []
        for pid in sorted(found[port]):
            unit = unit_of(pid)
            if any(
                unit == f"sanic-{owner}.service" or (pid == 1 and socket_listens(owner, port))
                for owner in [name, *removed]
            ):
                continue
            holders.append(f"{command_of(pid)} (pid {pid}, {unit or 'no unit'})")
        report.append({"port": port, "name": name, "holders": holders})
    return report


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


def mounts(needs):
    reports = []
    for directory, needed in needs:
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
    return reports


def resolves(name):
    try:
        return bool(socket.getaddrinfo(name, None))
    except (OSError, UnicodeError):
        return False


def accounts_created(record_path):
    try:
        with open(record_path, encoding="utf-8") as record:
            return json.load(record)
    except FileNotFoundError:
        # The role created no account on this host (or created them before it kept a record).
        return None


def packages_missing(names):
    if not names:
        return []
    result = subprocess.run(
        ["dpkg-query", "--show", "--showformat", "${Package} ${db:Status-Status}\\n", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {
        line.split(" ")[0] for line in result.stdout.splitlines() if line.endswith(" installed")
    }
    return [name for name in names if name not in installed]


def service_manager():
    if os.path.isdir("/run/systemd/system"):
        return "systemd"
    try:
        with open("/proc/1/comm", encoding="utf-8") as comm:
            return comm.read().strip()
    except OSError:
        return "unknown"


def main(request):
    json.dump(
        {
            "port_holders": port_holders(
                [(int(port), name) for port, name in request.get("ports", [])],
                request.get("removed", []),
            ),
            "mounts": mounts(request.get("mounts", [])),
            "removal_mounts": mounts([(path, 0) for path in request.get("removal_mounts", [])]),
            "unresolved": [name for name in request.get("host_names", []) if not resolves(name)],
            "passwd": {
                entry.pw_name: [
                    "x",
                    str(entry.pw_uid),
                    str(entry.pw_gid),
                    entry.pw_gecos,
                    entry.pw_dir,
                    entry.pw_shell,
                ]
                for entry in pwd.getpwall()
            },
            "group": {
                entry.gr_name: ["x", str(entry.gr_gid), ",".join(entry.gr_mem)]
                for entry in grp.getgrall()
            },
            "packages_missing": packages_missing(request.get("packages", [])),
            "platform": {
                "python": ".".join(platform.python_version_tuple()[:2]),
                "glibc": platform.libc_ver()[1],
                "arch": platform.machine(),
            },
            "service_manager": service_manager(),
            "accounts_created": accounts_created(request["accounts_record"])
            if request.get("accounts_record")
            else None,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
