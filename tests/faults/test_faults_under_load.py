"""Faults under load against a real `sanic --workers 4` on 127.0.0.1, driven by the same load
client (sanic_testkit.load) that the fleet checks faults_load and faults_files run inside the app
containers.

Every answered request must be counted once the service is whole again: a request is recorded
before its response is written, so the only allowed difference is requests counted by a worker
that was killed before its answer left (at most the failed ones).
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sanic_testkit.service import SanicService, request_counts

LOAD = [sys.executable, "-m", "sanic_testkit.load"]
WORKERS = 4
LOAD_SECONDS = 8
KILL_AFTER_SECONDS = 3


def run_load(*args: str, timeout: float = 30) -> dict:
    result = subprocess.run([*LOAD, *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def counts_by_status(service: SanicService) -> Counter:
    totals = Counter()
    for (_route, _method, status), count in request_counts(service.scrape()).items():
        totals[status] += int(count)
    return totals


def test_sigkill_of_a_worker_under_load_loses_no_answered_request():
    with SanicService(workers=WORKERS) as service:
        port = str(service.port)
        before = run_load("counts", "--port", port)
        load = subprocess.Popen(
            [*LOAD, "send", "--port", port, "--duration", str(LOAD_SECONDS),
             "--max-requests", "1000000", "--concurrency", "8", "--scrape-every", "0.2"],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        time.sleep(KILL_AFTER_SECONDS)
        victim = next(iter(service.worker_pids().values()))
        os.kill(victim, signal.SIGKILL)
        stdout, _ = load.communicate(timeout=LOAD_SECONDS + 30)
        sent = json.loads(stdout)
        service.wait_for_live_workers(WORKERS, timeout=30)
        after = run_load(
            "counts", "--port", port, "--since", json.dumps(before), "--answered", stdout
        )

        assert victim not in service.worker_pids().values()
        assert sent["scrapes"]["workers_live_min"] < WORKERS
        assert sent["scrapes"]["decreases"] == []
        assert after["lost"] == {}, f"sent {sent}, counted {after}"
        assert after["counted_not_answered"] <= sum(sent["failed"].values())
        # The fixture's own parser agrees with load.py's reading of the same endpoint.
        assert counts_by_status(service) == Counter(after["statuses"])
        assert (
            sum(after["counted_since"].values())
            == sum(sent["answered"].values()) + after["counted_not_answered"]
        )


def test_distinct_random_paths_and_methods_do_not_grow_the_directory_or_the_series():
    with SanicService(workers=WORKERS) as service:
        port = str(service.port)
        # One request per connection: a worker serves whole connections, so this reaches each.
        run_load("send", "--port", port, "--mix", "random", "--seed", "1",
                "--max-requests", "4000", "--duration", "30",
                "--requests-per-connection", "1")  # fmt: skip
        files_before = {p.name: p.stat().st_size for p in Path(service.multiprocess_dir).iterdir()}
        series_before = set(service.scrape())

        sent = run_load("send", "--port", port, "--mix", "random", "--seed", "2",
                       "--max-requests", "20000", "--duration", "60", timeout=90)  # fmt: skip

        files_after = {p.name: p.stat().st_size for p in Path(service.multiprocess_dir).iterdir()}
        assert sent["sent"] == 20000 and sent["failed"] == {}
        assert files_after == files_before
        assert set(service.scrape()) == series_before


def test_max_rate_paces_the_senders_and_every_paced_request_is_answered():
    # Molecule's deploy checks pace their load so the deploy they watch is not starved of CPU.
    with SanicService(workers=2) as service:
        paced = run_load("send", "--port", str(service.port), "--duration", "3",
                         "--max-requests", "1000000", "--concurrency", "4",
                         "--max-rate", "100")  # fmt: skip
        flat_out = run_load("send", "--port", str(service.port), "--duration", "1",
                            "--max-requests", "1000000", "--concurrency", "4")  # fmt: skip
    answered = sum(paced["answered"].values())
    assert paced["failed"] == {}
    assert 200 <= answered <= 310, paced
    assert flat_out["requests_per_second"] > 3 * paced["requests_per_second"], (paced, flat_out)


def test_a_load_past_its_duration_waits_for_a_late_window_file_then_its_grace(tmp_path):
    # faults_load's restart under a loaded machine can end after the load's planned duration.
    window_file = tmp_path / "restart-window"
    with SanicService(workers=1) as service:
        load = subprocess.Popen(
            [*LOAD, "send", "--port", str(service.port), "--duration", "1",
             "--max-requests", "1000000", "--concurrency", "2", "--max-rate", "50",
             "--window-file", str(window_file), "--window-grace", "1"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(3)
        assert load.poll() is None, "the load stopped at its duration without its window"
        now = time.time()
        window_file.write_text(f"{now - 1} {now}")
        stdout, _ = load.communicate(timeout=30)
        on_time = run_load("send", "--port", str(service.port), "--duration", "1",
                           "--max-requests", "1000000", "--concurrency", "2", "--max-rate", "50",
                           "--window-file", str(window_file), "--window-grace", "5")  # fmt: skip
    late = json.loads(stdout)
    assert late["window"]["sent"] > 0, late
    # Ran 3 s before the file, then its 1 s of grace; not the 120 s limit.
    assert 3.5 <= late["seconds"] <= 8, late
    assert late["ended_at"] >= now + 0.9, late
    # A window file already there at the duration adds no grace.
    assert on_time["seconds"] < 2.5, on_time
