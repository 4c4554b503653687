"""Fixtures shared by the collector and compaction tests: real prometheus_client writers."""

import sys
import tempfile
from pathlib import Path

import pytest

# The worker farm lives with the benchmark, which drives the same real writers.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from worker_farm import WorkerFarm


@pytest.fixture(scope="module")
def farm():
    with WorkerFarm() as worker_farm:
        yield worker_farm


@pytest.fixture
def metrics_dir(request):
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix=f"{request.module.__name__}_") as path:
        yield Path(path)
