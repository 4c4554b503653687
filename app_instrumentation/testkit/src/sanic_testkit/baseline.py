"""Today's code beside this branch's: the package as it was before exemplars, from git.

The benchmark and the test of the unchanged text exposition run that copy in a process of its own
(PYTHONPATH set to it) on the same directories as the current code, so both are measured in one run.
"""

import subprocess
import tarfile
import tempfile
from pathlib import Path

from sanic_testkit.service import APP_INSTRUMENTATION_DIR

# The last commit of main before trace exemplars.
BASELINE_COMMIT = "815374923bb78f86a1340d70af57d6f0e03fded1"
_SOURCE = "app_instrumentation/src"


def extract_baseline(into: Path, commit: str = BASELINE_COMMIT) -> Path:
    """Write the package's source at `commit` below `into`; returns the PYTHONPATH entry."""
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(APP_INSTRUMENTATION_DIR.parent),
            "archive",
            "--format=tar",
            commit,
            _SOURCE,
        ],
        check=True,
        capture_output=True,
    ).stdout
    with tempfile.TemporaryFile() as stream:
        stream.write(archive)
        stream.seek(0)
        with tarfile.open(fileobj=stream) as tar:
            tar.extractall(into, filter="data")
    return into / _SOURCE
