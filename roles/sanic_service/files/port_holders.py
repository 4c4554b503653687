"""Report, as JSON, who listens on each service's TCP port other than the service itself.

Arguments are `PORT=NAME` pairs, then `--removed NAME...` (the services this run removes first).
For each pair it prints {"port", "name", "holders": [...]}, each holder
"COMMAND (pid PID, UNIT)": a process with a listening TCP socket (IPv4 or IPv6) on that port.
Not holders: the processes of `sanic-NAME.service` (a service deployed before socket units binds
the port itself), and systemd (PID 1) while `sanic-NAME.socket` lists the port; the same for each
removed service, whose port a kept service may take. Read from /proc,
so the host needs no ss or lsof.
"""

import json
import os
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


def main(arguments):
    pairs, _, removed = (" ".join(arguments) + " ").partition("--removed ")
    services = [
        (int(port), name) for port, _, name in (pair.partition("=") for pair in pairs.split())
    ]
    found = holders_by_port({port for port, _ in services})
    report = []
    for port, name in services:
        holders = []
        for pid in sorted(found[port]):
            unit = unit_of(pid)
            if any(
                unit == f"sanic-{owner}.service" or (pid == 1 and socket_listens(owner, port))
                for owner in [name, *removed.split()]
            ):
                continue
            holders.append(f"{command_of(pid)} (pid {pid}, {unit or 'no unit'})")
        report.append({"port": port, "name": name, "holders": holders})
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
