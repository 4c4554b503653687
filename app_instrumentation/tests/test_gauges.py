"""Application gauges must say how worker values merge."""

import pytest

from app_instrumentation.gauges import declare_gauge


def test_gauge_without_a_mode_is_refused():
    with pytest.raises(TypeError, match="multiprocess_mode"):
        declare_gauge("demo_queue_depth", "Queued jobs.")


def test_default_all_mode_is_refused():
    with pytest.raises(ValueError, match="'all' keeps one series per pid"):
        declare_gauge("demo_queue_depth_all", "Queued jobs.", multiprocess_mode="all")


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="Invalid multiprocess mode"):
        declare_gauge("demo_queue_depth_bogus", "Queued jobs.", multiprocess_mode="average")


def test_explicit_mode_is_kept():
    gauge = declare_gauge(
        "demo_jobs_in_progress", "Jobs in progress.", multiprocess_mode="livesum", labelnames=["q"]
    )

    assert gauge._multiprocess_mode == "livesum"
    assert gauge._labelnames == ("q",)
