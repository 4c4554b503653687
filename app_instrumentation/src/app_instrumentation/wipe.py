"""`app-instrumentation-wipe DIR`: empty a metrics directory before the service starts.

prometheus_client needs the directory emptied between runs, never while processes write to it.
This refuses anything that does not look like a metrics directory, and deletes nothing unless
every check passes: it must be an absolute path other than /, a real directory (not a symlink)
owned by the running user, holding only regular `*.db` files.
"""

import argparse
import os
import stat
import sys


class WipeRefused(Exception):
    """A reason not to delete anything."""


def _checked_entries(directory: str, dir_fd: int) -> list[str]:
    names = sorted(os.listdir(dir_fd))
    for name in names:
        entry = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not (stat.S_ISREG(entry.st_mode) and name.endswith(".db")):
            raise WipeRefused(
                f"{os.path.join(directory, name)} is not a prometheus_client *.db file; "
                "refusing to wipe a directory that holds anything else"
            )
    return names


def wipe(directory: str) -> int:
    """Delete every *.db file in `directory`; returns how many. Raises WipeRefused."""
    if not os.path.isabs(directory):
        raise WipeRefused(f"{directory} is not an absolute path")
    if os.path.realpath(directory) == "/" or os.path.normpath(directory) == "/":
        raise WipeRefused("refusing to wipe /")
    if os.path.realpath(directory) != os.path.normpath(directory):
        raise WipeRefused(f"{directory} is or goes through a symlink")
    try:
        # O_NOFOLLOW and working relative to this fd: a directory swapped for a symlink after the
        # checks cannot redirect the deletions.
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise WipeRefused(f"{directory} does not exist") from None
    except NotADirectoryError:
        raise WipeRefused(f"{directory} is not a directory") from None
    try:
        owner = os.fstat(dir_fd).st_uid
        if owner != os.geteuid():
            raise WipeRefused(
                f"{directory} is owned by uid {owner}, not by the running user (uid {os.geteuid()})"
            )
        names = _checked_entries(directory, dir_fd)
        for name in names:
            os.unlink(name, dir_fd=dir_fd)
        return len(names)
    finally:
        os.close(dir_fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="app-instrumentation-wipe",
        description="Delete prometheus_client's *.db files from a metrics directory before start.",
    )
    parser.add_argument("directory", help="absolute path, e.g. the PROMETHEUS_MULTIPROC_DIR value")
    args = parser.parse_args(argv)
    try:
        removed = wipe(args.directory)
    except WipeRefused as reason:
        print(f"app-instrumentation-wipe: refused: {reason}; nothing deleted", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"app-instrumentation-wipe: error: {error}", file=sys.stderr)
        return 1
    print(f"app-instrumentation-wipe: removed {removed} file(s) from {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
