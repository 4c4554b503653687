"""bench/measure_recycling.py --quick: recycles of a 4-worker service under load meet issue 16's
goals (the full run's figures are in docs/FIGURES.md)."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "measure_recycling.py"
# An exited worker's files stay for the moment between its exit and its compaction: a few ms
# on a quiet machine, 51 ms seen with a load average of 40 on 2 cores; a missed compaction stays.
LONGEST_EXITED_FILES_MS = 500


def test_quick_recycling_run_loses_no_request_and_leaves_no_file():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    goals = figures["goals"]
    directory = figures["directory"]

    assert goals["recycles"]["met"], figures
    assert figures["restarts"]["crash"] == 0
    assert figures["requests"]["failed"] == 0, figures["requests"]
    assert figures["requests"]["answered_other"] == 0
    assert figures["requests"]["answered_200"] == figures["requests"]["counted_200"] > 0
    assert directory["max_files_per_worker"] == 2
    assert directory["max_archives"] == 1  # one metric type (the histogram) is archived
    assert directory["exited_workers_with_files_at_end"] == 0
    assert directory["longest_over_bound_ms"] <= LONGEST_EXITED_FILES_MS, directory
    assert goals["scrape_after_vs_before"]["met"], figures["scrape_ms"]
