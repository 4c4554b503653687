"""Fixtures shared by the alerting tests."""

import subprocess
import sys

import pytest

from .render import REPO


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A lab CA with server certificates for prom1 and prom2, made by scripts/lab_tls.py."""
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [sys.executable, REPO / "scripts" / "lab_tls.py", directory, "prom1", "prom2"], check=True
    )
    return directory
