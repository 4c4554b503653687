"""Fail fast when prometheus_client cannot run in multiprocess mode.

A worker that silently falls back to in-memory values serves only its own numbers, so a
misconfigured directory must stop the service at start, in the main process and in every worker.
"""

import os

from app_instrumentation.prometheus_client_internals import values_are_in_memory
from app_instrumentation.settings import MULTIPROC_DIR

ENV_VAR = MULTIPROC_DIR.environment


class MultiprocessDirError(SystemExit):
    """Exits the process with one line naming the variable, the path and the fix."""

    def __init__(self, path: str, problem: str, fix: str) -> None:
        super().__init__(f"app_instrumentation: error: {ENV_VAR}={path} {problem}; fix: {fix}")


def require_multiprocess_dir() -> str:
    """Return the usable multiprocess directory or exit with a one-line error."""
    # Set, and of the shape the settings table allows; then what only the host can tell.
    path = MULTIPROC_DIR.read()
    if not os.path.exists(path):
        raise MultiprocessDirError(
            path,
            "does not exist",
            "create it before start (systemd-tmpfiles line 'd <path> 0750 <user> <group> - -')",
        )
    if not os.path.isdir(path):
        raise MultiprocessDirError(path, "is not a directory", "point it at a directory on tmpfs")
    if not os.access(path, os.W_OK | os.X_OK):
        raise MultiprocessDirError(
            path,
            f"is not writable by uid {os.geteuid()}",
            "make the service user own the directory (systemd-tmpfiles sets owner and mode)",
        )
    # prometheus_client picks its value backend once, at import: too late to set the variable now.
    if values_are_in_memory():
        raise MultiprocessDirError(
            path,
            "was set after prometheus_client was imported, so values stay in memory",
            "set it in the service environment (systemd Environment=), not from Python code",
        )
    return path
