"""compact_dead_worker: folding dead workers' files into archives leaves the exposition unchanged.

Directories are written by real prometheus_client writers: forked processes, each with its own pid.
"""

import os
import random
import shutil
import tempfile
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

from app_instrumentation.collector import SafeMultiProcessCollector
from app_instrumentation.compaction import compact_dead_worker, directory_lock
from sanic_testkit.worker_farm import EVERY_KIND, random_operations


def families(collector_class, path):
    """{(family, type, help): sorted samples}: the exposition with order taken out."""
    registry = CollectorRegistry()
    collector_class(registry, path=str(path))
    text = generate_latest(registry).decode()
    return {
        (family.name, family.type, family.documentation): sorted(
            (sample.name, sorted(sample.labels.items()), sample.value, sample.timestamp)
            for sample in family.samples
        )
        for family in text_string_to_metric_families(text)
        if not family.name.startswith("app_instrumentation_")
    }


def db_files(path):
    return sorted(name for name in os.listdir(path) if name.endswith(".db"))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32), data=st.data())
def test_compacting_any_subset_of_dead_workers_leaves_the_exposition_unchanged(farm, seed, data):
    rng = random.Random(seed)
    with (
        tempfile.TemporaryDirectory(dir="/dev/shm", prefix="test_property_") as path,
        tempfile.TemporaryDirectory(dir="/dev/shm", prefix="test_reference_") as reference,
    ):
        pids = []
        for _ in range(rng.randint(1, 6)):
            operations = random_operations(rng, rng.randint(0, 40))
            pids += farm.run_workers(path, EVERY_KIND, operations)
        dead = data.draw(st.lists(st.sampled_from(pids), unique=True), label="dead pids")
        # What stock tooling shows once the parent has called mark_process_dead for the dead.
        shutil.copytree(path, reference, dirs_exist_ok=True)
        for pid in dead:
            mark_process_dead(pid, reference)
        expected = families(MultiProcessCollector, reference)

        for pid in dead:
            compact_dead_worker(path, pid)

        assert families(MultiProcessCollector, path) == expected
        assert families(SafeMultiProcessCollector, path) == expected
        leftovers = [
            name
            for name in db_files(path)
            for pid in dead
            if name.endswith(f"_{pid}.db") and not name.startswith("gauge_all_")
        ]
        assert leftovers == []


def test_dead_worker_files_become_archives_except_all_gauges(farm, metrics_dir):
    operations = [
        [index, ["a"], {"counter": "inc", "gauge": "set"}.get(metric["kind"], "observe"), 2.0]
        for index, metric in enumerate(EVERY_KIND)
    ]
    [live] = farm.run_workers(metrics_dir, EVERY_KIND, operations)
    [dead] = farm.run_workers(metrics_dir, EVERY_KIND, operations)

    compact_dead_worker(str(metrics_dir), dead)

    archived_prefixes = ["counter", "gauge_max", "gauge_min", "gauge_mostrecent", "gauge_sum"]
    assert db_files(metrics_dir) == sorted(
        [f"{prefix}_archive.db" for prefix in archived_prefixes]
        + ["histogram_archive.db", "summary_archive.db", f"gauge_all_{dead}.db"]
        + [name for name in db_files(metrics_dir) if name.endswith(f"_{live}.db")]
    )
    assert not [name for name in os.listdir(metrics_dir) if name.startswith(".")]


def test_compaction_keeps_the_newest_mostrecent_value_and_its_timestamp(farm, metrics_dir):
    mostrecent = next(i for i, m in enumerate(EVERY_KIND) if m.get("mode") == "mostrecent")
    [older] = farm.run_workers(metrics_dir, EVERY_KIND, [[mostrecent, ["a"], "set", 1.0]])
    [newer] = farm.run_workers(metrics_dir, EVERY_KIND, [[mostrecent, ["a"], "set", 7.0]])
    [third] = farm.run_workers(metrics_dir, EVERY_KIND, [[mostrecent, ["a"], "set", 3.0]])
    # The third worker wrote last, so it holds the newest timestamp; compact in another order.
    for pid in (newer, third, older):
        compact_dead_worker(str(metrics_dir), pid)

    [sample] = families(MultiProcessCollector, metrics_dir)[
        ("level_mostrecent", "gauge", "level_mostrecent")
    ]
    assert sample[:3] == ("level_mostrecent", [("route", "a")], 3.0)


def test_live_gauges_of_the_dead_worker_are_removed(farm, metrics_dir):
    livesum = next(i for i, m in enumerate(EVERY_KIND) if m.get("mode") == "livesum")
    [dead] = farm.run_workers(metrics_dir, EVERY_KIND, [[livesum, ["a"], "set", 5.0]])
    [live] = farm.run_workers(metrics_dir, EVERY_KIND, [[livesum, ["a"], "set", 2.0]])

    compact_dead_worker(str(metrics_dir), dead)

    assert db_files(metrics_dir) == [f"gauge_livesum_{live}.db"]
    assert families(SafeMultiProcessCollector, metrics_dir) == {
        ("level_livesum", "gauge", "level_livesum"): [
            ("level_livesum", [("route", "a")], 2.0, None)
        ]
    }


def test_unreadable_source_file_is_left_in_place_and_the_rest_compacted(farm, metrics_dir, caplog):
    counter, histogram = 0, 1
    operations = [[counter, ["a"], "inc", 1.0], [histogram, ["a"], "observe", 0.5]]
    [dead] = farm.run_workers(metrics_dir, EVERY_KIND, operations)
    truncated = metrics_dir / f"counter_{dead}.db"
    truncated.write_bytes(truncated.read_bytes()[:50])

    compact_dead_worker(str(metrics_dir), dead)

    assert db_files(metrics_dir) == [truncated.name, "histogram_archive.db"]
    assert f"not compacting unreadable multiprocess file {truncated}" in caplog.text


def test_compaction_refuses_the_running_process(metrics_dir):
    with pytest.raises(ValueError, match="running process"):
        compact_dead_worker(str(metrics_dir), os.getpid())


def test_compaction_waits_for_a_scrape_holding_the_shared_lock(farm, metrics_dir):
    [dead] = farm.run_workers(metrics_dir, EVERY_KIND, [[0, ["a"], "inc", 1.0]])
    compaction = threading.Thread(target=compact_dead_worker, args=(str(metrics_dir), dead))
    with directory_lock(str(metrics_dir), exclusive=False):
        compaction.start()
        compaction.join(timeout=0.3)
        assert compaction.is_alive()
        assert db_files(metrics_dir) == [f"counter_{dead}.db"]
    compaction.join(timeout=10)
    assert db_files(metrics_dir) == ["counter_archive.db"]
