"""Report, as JSON, what each service was last started with, in one run for all of a host's
services: revisions.yml's reads, which were three commands per service.

Arguments are groups of six: NAME RECORD SOCKET SCHEME CERT KEY; CERT and KEY are read only when
SCHEME is https. For each NAME it prints {"started": the record's text without its last newline,
"" if there is none yet; "listening": whether the socket unit is active; "tls": the certificate's
and key's `sha256sum` output, the lines of the files that exist, or null for plain HTTP}. The
texts are the ones the commands printed (cat, sha256sum), so the revisions built from them are the
ones recorded before: reading them this way restarts no service.
"""

import hashlib
import json
import subprocess
import sys

FIELDS = 6


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


def main(arguments):
    services = [arguments[index : index + FIELDS] for index in range(0, len(arguments), FIELDS)]
    sockets = [socket for _, _, socket, *_ in services]
    # One line per unit, in order; exits non-zero when any is not active.
    states = (
        subprocess.run(
            ["systemctl", "is-active", *sockets], capture_output=True, text=True, check=False
        ).stdout.splitlines()
        if sockets
        else []
    )
    if len(states) != len(services):
        sys.exit(f"systemctl is-active: {len(states)} lines for {len(services)} socket units")
    report = {
        name: {
            "started": started_with(record),
            "listening": state == "active",
            "tls": sha256sum_lines((cert, key)) if scheme == "https" else None,
        }
        for (name, record, _, scheme, cert, key), state in zip(services, states, strict=True)
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
