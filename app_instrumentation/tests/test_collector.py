"""SafeMultiProcessCollector: same exposition as the stock collector, and unreadable files skipped.

Directories are written by real prometheus_client writers: forked processes, each with its own pid.
"""

import logging
import os
import random
import struct
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from app_instrumentation import collector
from app_instrumentation.collector import (
    CORRUPT_FILES_METRIC,
    FILES_METRIC,
    SafeMultiProcessCollector,
)
from app_instrumentation.compaction import compact_dead_worker, encode_entries
from sanic_testkit.worker_farm import EVERY_KIND, random_operations


def exposition(collector_class, path):
    registry = CollectorRegistry()
    collector_class(registry, path=str(path))
    return generate_latest(registry).decode()


def own_gauges(text):
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("app_instrumentation_multiprocess_files")
    }


def without_own_gauges(text):
    return "\n".join(line for line in text.splitlines() if "app_instrumentation_" not in line)


def write_random_workers(farm, path, seed):
    rng = random.Random(seed)
    pids = []
    for _ in range(rng.randint(1, 5)):
        operations = random_operations(rng, rng.randint(0, 40))
        pids += farm.run_workers(path, EVERY_KIND, operations)
    return rng, pids


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32), compacted_share=st.sampled_from([0.0, 0.5, 1.0]))
def test_exposition_is_byte_identical_to_the_stock_collector(farm, seed, compacted_share):
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="test_identical_") as path:
        rng, pids = write_random_workers(farm, path, seed)
        # Archives are ordinary files to both collectors, so compacted directories must match too.
        for pid in rng.sample(pids, int(len(pids) * compacted_share)):
            compact_dead_worker(path, pid)
        stock = exposition(MultiProcessCollector, path)
        safe = exposition(SafeMultiProcessCollector, path)
        assert without_own_gauges(safe) == stock.rstrip("\n")


def test_files_gauge_counts_the_merged_files(farm, metrics_dir):
    farm.run_workers(metrics_dir, EVERY_KIND, random_operations(random.Random(1), 60), count=3)
    files = len(list(metrics_dir.glob("*.db")))
    assert own_gauges(exposition(SafeMultiProcessCollector, metrics_dir)) == {
        FILES_METRIC: files,
        CORRUPT_FILES_METRIC: 0.0,
    }


def test_unreadable_files_are_skipped_counted_and_logged_once(farm, metrics_dir, caplog):
    operations = random_operations(random.Random(2), 80)
    farm.run_workers(metrics_dir, EVERY_KIND, operations, count=2)
    healthy = exposition(MultiProcessCollector, metrics_dir)
    healthy_files = len(list(metrics_dir.glob("*.db")))
    [pid] = farm.run_workers(metrics_dir, EVERY_KIND, operations)
    truncated = metrics_dir / f"counter_{pid}.db"
    truncated.write_bytes(truncated.read_bytes()[:100])
    overwritten = metrics_dir / f"histogram_{pid}.db"
    overwritten.write_bytes(encode_entries({"overwritten, not a JSON key": (1.0, 0.0)}))
    for name in overwritten.parent.glob(f"*_{pid}.db"):
        if name not in (truncated, overwritten):
            name.unlink()
    # A file MmapedDict has just created and not yet sized: a starting worker, not a corrupt file.
    (metrics_dir / "gauge_livesum_999999.db").write_bytes(b"")

    with pytest.raises((ValueError, struct.error)):
        exposition(MultiProcessCollector, metrics_dir)
    with caplog.at_level(logging.ERROR, logger="app_instrumentation.collector"):
        first = exposition(SafeMultiProcessCollector, metrics_dir)
        second = exposition(SafeMultiProcessCollector, metrics_dir)

    assert without_own_gauges(first) == healthy.rstrip("\n")
    assert own_gauges(first) == {FILES_METRIC: healthy_files + 1, CORRUPT_FILES_METRIC: 2.0}
    assert first == second
    logged = sorted(record.getMessage().split(":")[0] for record in caplog.records)
    assert logged == [
        f"skipping unreadable multiprocess file {truncated}",
        f"skipping unreadable multiprocess file {overwritten}",
    ]


def test_collector_refuses_a_missing_directory(tmp_path):
    with pytest.raises(ValueError, match="PROMETHEUS_MULTIPROC_DIR"):
        SafeMultiProcessCollector(None, path=str(tmp_path / "missing"))


FILE_NAMES = ["counter_1.db", "counter_2.db", "histogram_1.db", "gauge_all_1.db", "gauge_max_2.db"]
KEYS = [
    mmap_key(metric, f"{metric}{suffix}", ["route"], [route], metric)
    for metric, suffix in [("jobs", "_total"), ("level", "")]
    for route in "abc"
] + [
    mmap_key("wait_seconds", f"wait_seconds{suffix}", labels, values, "wait_seconds")
    for suffix, labels, values in [("_sum", [], []), ("_bucket", ["le"], ["1.0"])]
]
file_writes = st.tuples(
    st.sampled_from(FILE_NAMES), st.sampled_from(KEYS), st.integers(0, 64).map(lambda v: v / 4)
)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.one_of(file_writes, st.sampled_from(FILE_NAMES)), min_size=1, max_size=30))
def test_files_that_grow_change_or_are_replaced_between_scrapes_read_like_stock(steps):
    """A file is written with prometheus_client's own MmapedDict, a step at a time."""
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="test_layouts_") as path:
        writers = {}
        try:
            for step in steps:
                if isinstance(step, str):
                    # The file is replaced by a new, empty one (pid reuse after a wipe).
                    if step in writers:
                        writers.pop(step).close()
                        os.remove(os.path.join(path, step))
                    continue
                name, key, value = step
                if name not in writers:
                    writers[name] = MmapedDict(os.path.join(path, name))
                writers[name].write_value(key, value, 0.0)
                stock = exposition(MultiProcessCollector, path)
                assert without_own_gauges(exposition(SafeMultiProcessCollector, path)) == (
                    stock.rstrip("\n")
                )
        finally:
            for writer in writers.values():
                writer.close()


def test_directories_larger_than_the_layout_cache_read_like_stock(farm, metrics_dir, monkeypatch):
    monkeypatch.setattr(collector, "_LAYOUT_LIMIT", 4)
    monkeypatch.setattr(collector, "_layouts", {})
    farm.run_workers(metrics_dir, EVERY_KIND, random_operations(random.Random(3), 60), count=3)
    assert len(list(metrics_dir.glob("*.db"))) > 3 * 4
    stock = exposition(MultiProcessCollector, metrics_dir)
    for _ in range(3):
        assert without_own_gauges(exposition(SafeMultiProcessCollector, metrics_dir)) == (
            stock.rstrip("\n")
        )
    assert len(collector._layouts) == 4
