"""The endpoint merges in a helper process per worker: started at the first scrape, replaced
when it dies, gone with its worker, and it writes no metrics files of its own."""

import os
import signal
import time
from pathlib import Path

import pytest

from sanic_testkit.service import SanicService

WORKERS = 2
HELPER_ARGUMENTS = ["-m", "app_instrumentation.exposition"]


@pytest.fixture(scope="module")
def service():
    with SanicService(workers=WORKERS) as running:
        yield running


def children(pid: int) -> list[int]:
    """Children of all of `pid`'s threads (the helper is started by the endpoint's thread)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def helpers_of(pid: int) -> list[int]:
    """Merge helpers among `pid`'s children."""
    found = []
    for child in children(pid):
        try:
            arguments = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
        except FileNotFoundError:
            continue
        if arguments[1:3] == HELPER_ARGUMENTS:
            found.append(child)
    return found


def wait_until(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def scrape_until_every_worker_has_a_helper(service) -> dict[int, int]:
    """worker pid -> its helper's pid, scraping until every worker has served a scrape."""

    def helpers():
        service.scrape()
        found = {pid: helpers_of(pid) for pid in service.worker_pids().values()}
        return all(found.values()) and {pid: pids[0] for pid, pids in found.items()}

    return wait_until(helpers, timeout=30)


def test_each_worker_merges_in_one_helper_process_that_writes_no_files(service):
    helpers = scrape_until_every_worker_has_a_helper(service)

    assert helpers, "a worker served scrapes without a merge helper"
    for worker in helpers:
        assert len(helpers_of(worker)) == 1
    written_by = {name.rsplit("_", 1)[1][:-3] for name in os.listdir(service.multiprocess_dir)}
    assert not written_by & {str(helper) for helper in helpers.values()}


def test_a_killed_helper_is_replaced_and_the_scrape_still_answers(service):
    helpers = scrape_until_every_worker_has_a_helper(service)
    for helper in helpers.values():
        os.kill(helper, signal.SIGKILL)

    replaced = scrape_until_every_worker_has_a_helper(service)

    assert replaced and set(replaced.values()).isdisjoint(helpers.values())
    assert service.scrape()[("sanic_workers_live", frozenset())] == WORKERS


def test_helper_exits_with_its_worker(service):
    helpers = scrape_until_every_worker_has_a_helper(service)
    worker, helper = next(iter(helpers.items()))

    os.kill(worker, signal.SIGKILL)

    # Its pipe closes with the worker: it exits (reaped by init, or a zombie until then).
    def helper_gone():
        try:
            state = Path(f"/proc/{helper}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        return state == "Z"

    assert wait_until(helper_gone)
    service.wait_for_live_workers(WORKERS, timeout=30)
