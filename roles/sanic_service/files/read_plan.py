"""Report, as JSON, what plan.yml reads on an app host in one run, for every service at once;
cleanup.yml reads the releases with it again after a deploy.

The one argument is a JSON object; each key it holds gets its answer:
- "services": [[NAME, INSTALL_DIR, APP_VERSION, VENV_VERSION, UNIT, SOCKET], ...]. "reasons" gets a
  line "NAME: ..." for each thing that is not as a deploy leaves it: the `app` and `venv` links
  name other versions, the virtualenv is not complete, the install or app directory is not
  root's with mode 755, a unit is not enabled or not active.
- "removed_paths": [PATH, ...]: a line "PATH is still installed" for each that exists.
- "files": [PATH, ...]: "files" maps each to its state, null when it does not exist, else
  {"type": "file" | "dir" | "other", "owner", "group", "mode" (octal permission bits, e.g. "644"),
  "sha1" (files only: the checksum Ansible's copy and template modules compare)}.
- "gates": [[NAME, URL, TOKEN_FILE or null, UNIT], ...]: one request of health.yml's gate to each
  service whose UNIT is active, without retries (a request to an inactive service's socket would
  start it: a read changes nothing): "gates" maps each NAME to {"status": the HTTP status or null,
  "content": the answer's sanic_workers_live lines, "msg": why there was no answer}; the control
  node judges it with the gate's own test (plugins/test/health_gate.py). The token is read here,
  as root, and never printed.
- "started": [[NAME, RECORD, SOCKET, SCHEME, CERT, KEY], ...]: revisions.yml's read (CERT and KEY
  are read only when SCHEME is https): "started" maps each NAME to {"started": the RECORD file's
  text without its last newline, "" if there is none yet; "listening": whether the SOCKET unit is
  active; "tls": the certificate's and key's `sha256sum` output, the lines of the files that
  exist, or null for plain HTTP}. The texts are the ones `cat` and `sha256sum` printed when these
  were commands, so the revisions built from them are the ones recorded before.
- "releases": {"releases_file": the file's name in each install directory, "services": [[NAME,
  INSTALL_DIR], ...]}: "releases" maps each NAME to {"releases": the file's lines ([] when there is
  none yet: the service never passed a gate under this role), "versions": the paths of the
  directories app-*, venv-* and wheels-* in INSTALL_DIR (not the `app` and `venv` links)}.
"""

import grp
import hashlib
import json
import os
import pwd
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.request

VERSION_PREFIXES = ("app-", "venv-", "wheels-")
# As health.yml's uri: a live service answers in milliseconds.
GATE_TIMEOUT_SECONDS = 5


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


def reasons(services, removed_paths, units):
    lines = []
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


def gate_answers(gates, units):
    # As the gate: over loopback, which the certificate need not name (Prometheus verifies it),
    # and straight to the service, whatever proxy the environment names.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    answers = {}
    for name, url, token_file, unit in gates:
        answer = {"status": None, "content": "", "msg": ""}
        if units.get(unit, ("", ""))[1] != "active":
            answers[name] = {**answer, "msg": f"{unit} is not active"}
            continue
        try:
            headers = {}
            if token_file:
                with open(token_file, encoding="utf-8") as token:
                    headers["Authorization"] = f"Bearer {token.read().strip()}"
            with opener.open(
                urllib.request.Request(url, headers=headers), timeout=GATE_TIMEOUT_SECONDS
            ) as reply:
                answer["status"] = reply.status
                body = reply.read().decode("utf-8", "replace")
            answer["content"] = "\n".join(
                line for line in body.splitlines() if line.startswith("sanic_workers_live ")
            )
        except urllib.error.HTTPError as error:
            answer["status"], answer["msg"] = error.code, str(error.reason)
        except (OSError, ValueError) as error:
            answer["msg"] = str(error)
        answers[name] = answer
    return answers


def started_with(record_path):
    try:
        with open(record_path, encoding="utf-8") as record:
            return record.read().rstrip("\r\n")
    except FileNotFoundError:
        # A service this role never started has no record yet.
        return ""


def sha256sum_lines(paths):
    lines = []
    for path in paths:
        try:
            with open(path, "rb") as stream:
                lines.append(f"{hashlib.sha256(stream.read()).hexdigest()}  {path}")
        except FileNotFoundError:
            # A file check mode has not installed.
            continue
    return "\n".join(lines)


def started_reads(started, units):
    return {
        name: {
            "started": started_with(record),
            "listening": units.get(socket, ("", ""))[1] == "active",
            "tls": sha256sum_lines((cert, key)) if scheme == "https" else None,
        }
        for name, record, socket, scheme, cert, key in started
    }


def releases(path):
    try:
        with open(path, encoding="utf-8") as lines:
            return lines.read().splitlines()
    except FileNotFoundError:
        return []


def versions(install_dir):
    try:
        entries = list(os.scandir(install_dir))
    except FileNotFoundError:
        return []
    return sorted(
        entry.path
        for entry in entries
        if entry.name.startswith(VERSION_PREFIXES) and entry.is_dir(follow_symlinks=False)
    )


def release_reads(request):
    return {
        name: {
            "releases": releases(os.path.join(install_dir, request["releases_file"])),
            "versions": versions(install_dir),
        }
        for name, install_dir in request["services"]
    }


def main(request):
    services, gates, started = (request.get(key, []) for key in ("services", "gates", "started"))
    units = unit_states(
        list(
            dict.fromkeys(
                [unit for service in services for unit in service[4:6]]
                + [gate[3] for gate in gates]
                + [read[2] for read in started]
            )
        )
    )
    report = {}
    if "services" in request or "removed_paths" in request:
        report["reasons"] = reasons(services, request.get("removed_paths", []), units)
    if "files" in request:
        report["files"] = {path: file_state(path) for path in request["files"]}
    if "gates" in request:
        report["gates"] = gate_answers(gates, units)
    if "started" in request:
        report["started"] = started_reads(started, units)
    if "releases" in request:
        report["releases"] = release_reads(request["releases"])
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
