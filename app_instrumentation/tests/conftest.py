"""Fixtures shared by the collector and compaction tests: real prometheus_client writers."""

import tempfile
from pathlib import Path

import pytest

from sanic_testkit.worker_farm import WorkerFarm


@pytest.fixture(scope="module")
def farm():
    with WorkerFarm() as worker_farm:
        yield worker_farm


@pytest.fixture
def metrics_dir(request):
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix=f"{request.module.__name__}_") as path:
        yield Path(path)
