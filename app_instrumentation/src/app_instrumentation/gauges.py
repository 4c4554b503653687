"""Declaring application gauges that stay meaningful when several workers write them.

In multiprocess mode every worker writes its own value and the scrape merges them with the
gauge's `multiprocess_mode`; prometheus_client's default, "all", exports one series per pid,
dead workers included. So a gauge must say how to merge. Choose by what the value means:

- a count of things in progress in each worker (requests, open connections): "livesum";
- a per-worker level where the worst worker matters (queue depth, memory): "livemax" / "livemin";
- a value set by whichever process last learnt it (a config version, a last-success timestamp):
  "mostrecent" (set() only; inc/dec are refused) or "livemostrecent";
- a per-worker value you want to see one by one: "liveall" (adds a `pid` label).

The "live" modes drop a worker's value once the main process marks it dead; the others keep
dead workers' values until the directory is wiped at the next start. Keep label values bounded.
"""

from collections.abc import Sequence

from prometheus_client import Gauge


def declare_gauge(
    name: str,
    documentation: str,
    *,
    multiprocess_mode: str,
    labelnames: Sequence[str] = (),
) -> Gauge:
    """Declare a Gauge once, at module level, with an explicit multiprocess merge mode."""
    if multiprocess_mode == "all":
        raise ValueError(
            f"gauge {name}: multiprocess_mode 'all' keeps one series per pid, dead workers too; "
            "choose liveall if a series per worker is really wanted"
        )
    return Gauge(name, documentation, labelnames, multiprocess_mode=multiprocess_mode)
