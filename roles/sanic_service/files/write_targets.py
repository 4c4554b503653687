"""Write the file_sd target files of several app hosts on one Prometheus server, in one run:
scrape_targets.yml's write, which was a directory task and a template task per app host and
server. Prints, as JSON, what it changed (or, in check mode, would change) and the diffs.

The one argument is a JSON object: {"directory": the server's file_sd directory, "files": {NAME:
the file's text, or null to remove it}, "check": true to change nothing}. The directory is made
root's with mode 0755, each file root's with mode 0644, written whole under a temporary name and
renamed into place, so Prometheus never reads half a file. Output: {"changed": [the paths changed],
"diffs": [the unified diff of each file changed, as lines]}.
"""

import difflib
import json
import os
import stat
import sys
import tempfile

DIRECTORY_MODE, FILE_MODE = 0o755, 0o644


def owned_as(path, mode):
    found = os.lstat(path)
    return (found.st_uid, found.st_gid, stat.S_IMODE(found.st_mode)) == (0, 0, mode)


def text_of(path):
    try:
        with open(path, encoding="utf-8") as current:
            return current.read()
    except FileNotFoundError:
        return None


def write_whole(path, text):
    descriptor, scratch = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".targets-")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chown(scratch, 0, 0)
        os.chmod(scratch, FILE_MODE)
        os.replace(scratch, path)
    except BaseException:
        os.unlink(scratch)
        raise


def main(request):
    directory, check = request["directory"], request.get("check", False)
    changed, diffs = [], []
    if not os.path.isdir(directory) or not owned_as(directory, DIRECTORY_MODE):
        changed.append(directory)
        if not check:
            os.makedirs(directory, mode=DIRECTORY_MODE, exist_ok=True)
            os.chown(directory, 0, 0)
            os.chmod(directory, DIRECTORY_MODE)
    for name, text in sorted(request["files"].items()):
        path = os.path.join(directory, name)
        before = text_of(path) if os.path.isdir(directory) else None
        if text is None:
            if before is None:
                continue
        elif before == text and owned_as(path, FILE_MODE):
            continue
        changed.append(path)
        diffs.append(
            [
                line.rstrip("\n")
                for line in difflib.unified_diff(
                    (before or "").splitlines(keepends=True),
                    (text or "").splitlines(keepends=True),
                    fromfile=path if before is not None else "/dev/null",
                    tofile=path if text is not None else "/dev/null",
                )
            ]
        )
        if check:
            continue
        if text is None:
            os.unlink(path)
        else:
            write_whole(path, text)
    json.dump({"changed": changed, "diffs": diffs}, sys.stdout)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
