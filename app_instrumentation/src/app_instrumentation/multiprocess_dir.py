"""Fail fast when prometheus_client cannot run in multiprocess mode.

A worker that silently falls back to in-memory values serves only its own numbers, so a
misconfigured directory must stop the service at start, in the main process and in every worker.
"""

import os

from app_instrumentation.prometheus_client_internals import values_are_in_memory

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"


class MultiprocessDirError(SystemExit):
    """Exits the process with one line naming the variable, the path and the fix."""

    def __init__(self, path: str, problem: str, fix: str) -> None:
        setting = f"{ENV_VAR}={path}" if path else ENV_VAR
        super().__init__(f"app_instrumentation: error: {setting} {problem}; fix: {fix}")


def require_multiprocess_dir() -> str:
    """Return the usable multiprocess directory or exit with a one-line error."""
    path = os.environ.get(ENV_VAR, "")
    if not path:
        raise MultiprocessDirError(
            path,
            "is not set",
            f"set {ENV_VAR}=/dev/shm/<service> in the service environment before Python starts",
        )
    if not os.path.isabs(path):
        raise MultiprocessDirError(
            path,
            "is not an absolute path",
            "use an absolute path on tmpfs such as /dev/shm/<service>",
        )
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
