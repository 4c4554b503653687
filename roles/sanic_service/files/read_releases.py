"""Report, as JSON, each service's releases file and version directories, in one run for all of a
host's services: cleanup.yml's reads, which were a cat and a find per service.

The one argument is a JSON object: {"releases_file": the file's name in each install directory,
"services": [[NAME, INSTALL_DIR], ...]}. For each NAME it prints
{"releases": the file's lines ([] when there is none yet: the service never passed a gate under
this role), "versions": the paths of the directories app-*, venv-* and wheels-* in INSTALL_DIR
(not the `app` and `venv` links)}.
"""

import json
import os
import sys

VERSION_PREFIXES = ("app-", "venv-", "wheels-")


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


def main(request):
    report = {}
    for name, install_dir in request["services"]:
        report[name] = {
            "releases": releases(os.path.join(install_dir, request["releases_file"])),
            "versions": versions(install_dir),
        }
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
