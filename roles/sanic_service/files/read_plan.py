"""Report, as JSON, what plan.yml reads on an app host in one run, for every service at once.

The one argument is a JSON object:
- "services": [[NAME, INSTALL_DIR, APP_VERSION, VENV_VERSION, UNIT, SOCKET], ...]. "reasons" gets a
  line "NAME: ..." for each thing that is not as a deploy leaves it: the `app` and `venv` links
  name other versions, the virtualenv is not complete, the install or app directory is not
  root's with mode 755, a unit is not enabled or not active.
- "removed_paths": [PATH, ...]: a line "PATH is still installed" for each that exists.
- "files": [PATH, ...]: "files" maps each to its state, null when it does not exist, else
  {"type": "file" | "dir" | "other", "owner", "group", "mode" (octal permission bits, e.g. "644"),
  "sha1" (files only: the checksum Ansible's copy and template modules compare)}.
"""

import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess
import sys


def owner_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def sha1_of(path):
    digest = hashlib.sha1()
    with open(path, "rb") as content:
        for block in iter(lambda: content.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def file_state(path):
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    kind = (
        "file" if stat.S_ISREG(found.st_mode) else "dir" if stat.S_ISDIR(found.st_mode) else "other"
    )
    state = {
        "type": kind,
        "owner": owner_name(found.st_uid),
        "group": group_name(found.st_gid),
        "mode": format(stat.S_IMODE(found.st_mode), "o"),
    }
    if kind == "file":
        state["sha1"] = sha1_of(path)
    return state


def unit_states(units):
    """{unit: (UnitFileState, ActiveState)}, from one `systemctl show` for all units."""
    if not units:
        return {}
    result = subprocess.run(
        ["systemctl", "show", "--property", "Id,UnitFileState,ActiveState", *units],
        capture_output=True,
        text=True,
        check=False,
    )
    states = {}
    for block, unit in zip(result.stdout.strip("\n").split("\n\n"), units, strict=False):
        fields = dict(line.partition("=")[::2] for line in block.splitlines())
        states[unit] = (fields.get("UnitFileState", ""), fields.get("ActiveState", ""))
    return states


def reasons(services, removed_paths):
    lines = []
    units = unit_states([unit for service in services for unit in service[4:6]])
    for name, install_dir, app, venv, unit, socket in services:
        for link, version in (("app", app), ("venv", venv)):
            try:
                target = os.readlink(os.path.join(install_dir, link))
            except OSError:
                target = None
            if target != version:
                lines.append(f"{name}: the {link} link is not {version}")
        if not os.path.exists(os.path.join(install_dir, venv, ".complete")):
            lines.append(f"{name}: {venv} is not built")
        directories = [file_state(path) for path in (install_dir, os.path.join(install_dir, app))]
        if any(
            state is None
            or (state["type"], state["owner"], state["group"], state["mode"])
            != ("dir", "root", "root", "755")
            for state in directories
        ):
            lines.append(f"{name}: {install_dir} or its {app} is not root's with mode 0755")
        for each in (unit, socket):
            enabled, active = units.get(each, ("", ""))
            if enabled != "enabled":
                lines.append(f"{name}: {each} is not enabled")
            if active != "active":
                lines.append(f"{name}: {each} is not active")
    lines += [f"{path} is still installed" for path in removed_paths if os.path.lexists(path)]
    return lines


def main(request):
    json.dump(
        {
            "reasons": reasons(request.get("services", []), request.get("removed_paths", [])),
            "files": {path: file_state(path) for path in request.get("files", [])},
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
