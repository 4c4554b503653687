"""Load generator the fault checks run inside an app container against 127.0.0.1 (stdlib only).

`send` sends requests over CONCURRENCY keep-alive connections until DURATION seconds have passed or
MAX_REQUESTS were sent, whichever comes first; a failed request is never retried (so every request
is either answered or failed, once). Prints one JSON object:

  sent, answered (per status), failed (per error type), seconds, started_at / ended_at (epoch),
  requests_per_second and peak_requests_per_second (answered, best whole second),
  outages: how often and for how long no request got an answer (a closed port during a restart),
  scrapes (with --scrape-every): what the metrics endpoint reported during the load.

--stop-file PATH ends the load early once PATH exists (a deploy under load stops it when done).
--window-file PATH: a file holding two epoch times "START END" (written by whoever restarts the
service, while the load runs); the output's "window" then describes the requests sent between
them: how many, which failed and why, and how long the slowest answer took ("latency"). A load
that reaches DURATION before the file exists runs on until it does, then --window-grace seconds
more (at most WINDOW_WAIT_LIMIT_SECONDS past DURATION): a restart slowed by a loaded machine is
still described, with requests after it.
Every request's latency (send to last byte, seconds) is summarized in "latency" too.

--mix fixed sends --method --path (default GET /) every time; --mix random sends a distinct
random path with a random method each time (standard methods and invented ones), to show that
labels stay bounded.
`counts` reads the metrics endpoint once and prints {"statuses", "workers_live"}: the requests
counted per status over all routes and methods. With --since (an earlier `counts` output) and
--answered (a `send` output) it also compares them: "counted_since" per status, "lost" (answered
but not counted, per status) and "counted_not_answered" (counted by a worker whose answer never
left, e.g. one killed between recording and writing; at most `send`'s failed requests).
Both read the endpoint with http_probe.py (copied next to this file); metrics requests are not
counted by the service, so scrapes do not disturb the comparison.
tests/faults runs the same client on this machine as `python -m sanic_testkit.load`.
"""

import argparse
import array
import http.client
import itertools
import json
import os
import random
import sys
import threading
import time
from collections import Counter

if __package__:
    from . import http_probe
else:  # copied onto an app container and run as a script, with http_probe.py beside it
    import http_probe

RANDOM_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PURGE", "BREW")
# After a refused connection: the port is closed, so retrying at once would only burn CPU.
REFUSED_BACKOFF_SECONDS = 0.01
STOP_FILE_POLL_SECONDS = 0.2
WINDOW_WAIT_LIMIT_SECONDS = 120


def fixed_requests(method, path):
    return itertools.repeat((method, path))


def random_requests(seed):
    generator = random.Random(seed)
    for number in itertools.count():
        method = generator.choice(RANDOM_METHODS)
        shape = generator.randrange(3)
        token = f"{number:x}{generator.getrandbits(32):08x}"
        if shape == 0:
            yield method, f"/random/{token}"
        elif shape == 1:
            yield method, f"/items/{number}"
        else:
            yield method, f"/api/v1/users/{token}?q={token}"


class Load:
    """Shared state of the sending threads; every update happens under one lock."""

    def __init__(self, requests, max_requests, stop_at, window_file="", window_grace=0.0):
        self.lock = threading.Lock()
        self.requests = iter(requests)
        self.remaining = max_requests
        self.stop_at = stop_at
        self.window_file = window_file
        self.window_grace = window_grace
        self.window_wait_limit = stop_at + WINDOW_WAIT_LIMIT_SECONDS
        self.waited_for_window = False
        self.window_stop_at = None
        self.answered = Counter()
        self.failed = Counter()
        self.answered_per_second = Counter()
        self.outage_started = None
        self.outages = []
        # Every answered request's send time (epoch) and latency; failures with their send time.
        self.answered_sent_at = array.array("d")
        self.answered_seconds = array.array("d")
        self.failures = []

    def next_request(self):
        with self.lock:
            now = time.monotonic()
            if self.remaining <= 0 or (now >= self.stop_at and not self.runs_on_for_window(now)):
                return None
            self.remaining -= 1
            return next(self.requests)

    def runs_on_for_window(self, now):
        """Past the stop time (under the lock): whether the load still waits for the window file,
        or for the grace after it; never when the file was there at the stop time."""
        if self.window_stop_at is not None:
            return now < self.window_stop_at
        if not self.window_file or now >= self.window_wait_limit:
            return False
        if not os.path.exists(self.window_file):
            self.waited_for_window = True
            return True
        if not self.waited_for_window:
            return False
        self.window_stop_at = now + self.window_grace
        return True

    def record_answer(self, status, sent_at, sent_at_epoch):
        now = time.monotonic()
        with self.lock:
            self.answered_sent_at.append(sent_at_epoch)
            self.answered_seconds.append(now - sent_at)
            self.answered[str(status)] += 1
            self.answered_per_second[int(now)] += 1
            # Only a request sent after the outage began proves the port is open again.
            if self.outage_started is not None and sent_at >= self.outage_started:
                self.outages.append(now - self.outage_started)
                self.outage_started = None

    def record_failure(self, error, sent_at_epoch):
        with self.lock:
            self.failures.append((sent_at_epoch, type(error).__name__))
            self.failed[type(error).__name__] += 1
            if self.outage_started is None:
                self.outage_started = time.monotonic()


def stop_when_file_exists(load, path, done):
    while not done.wait(STOP_FILE_POLL_SECONDS):
        if os.path.exists(path):
            with load.lock:
                load.stop_at = time.monotonic()
            return


def sender(load, host, port, requests_per_connection, between_requests):
    connection = http.client.HTTPConnection(host, port, timeout=10)
    on_connection = 0
    next_send = time.monotonic()
    while (request := load.next_request()) is not None:
        if between_requests:
            # Paced, not flat out: a fixed schedule, so a slow answer is not followed by a burst.
            next_send = max(next_send + between_requests, time.monotonic())
            time.sleep(max(0.0, next_send - time.monotonic()))
        if on_connection == requests_per_connection:
            connection.close()
            on_connection = 0
        on_connection += 1
        method, path = request
        sent_at, sent_at_epoch = time.monotonic(), time.time()
        try:
            connection.request(method, path)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            on_connection = 0
            load.record_failure(error, sent_at_epoch)
            if isinstance(error, ConnectionRefusedError):
                time.sleep(REFUSED_BACKOFF_SECONDS)
            continue
        load.record_answer(response.status, sent_at, sent_at_epoch)
    connection.close()


def counts(host, port, metrics_path):
    """Requests counted per status (summed over routes and methods) and live workers."""
    scraped = http_probe.scrape(host, port, metrics_path, deadline=5)
    statuses = Counter()
    for route_status, count in scraped["by_route"].items():
        statuses[route_status.rsplit(" ", 1)[1]] += count
    return {"statuses": dict(sorted(statuses.items())), "workers_live": scraped["workers_live"]}


def compare(now, since, answered):
    """`now` plus what was counted since `since`, against the requests `answered` per status."""
    counted = Counter(now["statuses"])
    counted.subtract(since["statuses"])
    answered = Counter(answered)
    return {
        **now,
        "counted_since": dict(sorted(counted.items())),
        "lost": dict(sorted((answered - counted).items())),
        "counted_not_answered": sum((counted - answered).values()),
    }


def scraper(host, port, metrics_path, every, done, scrapes, started):
    while not done.wait(every):
        try:
            scrape = counts(host, port, metrics_path)
        # http_probe.scrape exits on a non-200 answer; during a restart that is a failed scrape.
        except (OSError, http.client.HTTPException, SystemExit):
            scrapes.append({"t": round(time.monotonic() - started, 2), "failed": True})
            continue
        scrapes.append({"t": round(time.monotonic() - started, 2), **scrape})


def summarize_scrapes(scrapes):
    """Decreases between consecutive successful scrapes, and the live-worker timeline."""
    answered = [scrape for scrape in scrapes if not scrape.get("failed")]
    decreases = [
        {"t": later["t"], "status": status, "from": count, "to": later["statuses"].get(status, 0)}
        for earlier, later in itertools.pairwise(answered)
        for status, count in earlier["statuses"].items()
        if later["statuses"].get(status, 0) < count
    ]
    live = [scrape["workers_live"] for scrape in answered]
    timeline = [
        [scrape["t"], scrape["workers_live"]]
        for previous, scrape in zip([None, *answered[:-1]], answered, strict=True)
        if previous is None or previous["workers_live"] != scrape["workers_live"]
    ]
    return {
        "count": len(scrapes),
        "failed": len(scrapes) - len(answered),
        "decreases": decreases,
        "workers_live_min": min(live, default=None),
        "workers_live_last": live[-1] if live else None,
        "workers_live_timeline": timeline,
    }


def latency_summary(seconds):
    ordered = sorted(seconds)
    if not ordered:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def window_summary(load, path):
    """The requests sent between the two epoch times in `path`."""
    with open(path, encoding="ascii") as window:
        start, end = (float(value) for value in window.read().split())
    inside = [
        seconds
        for sent_at, seconds in zip(load.answered_sent_at, load.answered_seconds, strict=True)
        if start <= sent_at <= end
    ]
    failed = Counter(kind for sent_at, kind in load.failures if start <= sent_at <= end)
    return {
        "start": start,
        "end": end,
        "seconds": round(end - start, 3),
        "sent": len(inside) + sum(failed.values()),
        "answered": len(inside),
        "failed": dict(sorted(failed.items())),
        "latency": latency_summary(inside),
    }


def run(args):
    if args.mix == "fixed":
        requests = fixed_requests(args.method, args.path)
    else:
        requests = random_requests(args.seed)
    started = time.monotonic()
    started_at = time.time()
    load = Load(
        requests, args.max_requests, started + args.duration, args.window_file, args.window_grace
    )
    done = threading.Event()
    scrapes = []
    between_requests = args.concurrency / args.max_rate if args.max_rate else 0.0
    sender_args = (load, args.host, args.port, args.requests_per_connection, between_requests)
    threads = [threading.Thread(target=sender, args=sender_args) for _ in range(args.concurrency)]
    if args.scrape_every:
        scrape_args = (args.host, args.port, args.metrics_path, args.scrape_every)
        threads.append(
            threading.Thread(target=scraper, args=(*scrape_args, done, scrapes, started))
        )
    if args.stop_file:
        threads.append(
            threading.Thread(target=stop_when_file_exists, args=(load, args.stop_file, done))
        )
    for thread in threads:
        thread.start()
    for thread in threads[: args.concurrency]:
        thread.join()
    done.set()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    total_answered = sum(load.answered.values())
    result = {
        "sent": total_answered + sum(load.failed.values()),
        "answered": dict(sorted(load.answered.items())),
        "failed": dict(sorted(load.failed.items())),
        "seconds": round(seconds, 3),
        "started_at": round(started_at, 3),
        "ended_at": round(started_at + seconds, 3),
        "requests_per_second": round(total_answered / seconds, 1),
        "peak_requests_per_second": max(load.answered_per_second.values(), default=0),
        "outages": {
            "count": len(load.outages),
            "longest_seconds": round(max(load.outages, default=0.0), 3),
            "unresolved": load.outage_started is not None,
        },
        "latency": latency_summary(load.answered_seconds),
    }
    if args.window_file and os.path.exists(args.window_file):
        result["window"] = window_summary(load, args.window_file)
    if args.scrape_every:
        result["scrapes"] = summarize_scrapes(scrapes)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send")
    count = commands.add_parser("counts")
    for command in (send, count):
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, required=True)
        command.add_argument("--metrics-path", default="/metrics")
    send.add_argument("--duration", type=float, required=True, help="seconds, upper bound")
    send.add_argument("--max-requests", type=int, required=True, help="upper bound")
    send.add_argument("--concurrency", type=int, default=8)
    send.add_argument(
        "--max-rate", type=float, default=0.0, help="requests per second, all senders; 0: no limit"
    )
    # Each worker accepts whole connections: short ones spread requests over every worker.
    send.add_argument("--requests-per-connection", type=int, default=0, help="0: no limit")
    send.add_argument("--mix", choices=["fixed", "random"], default="fixed")
    send.add_argument("--method", default="GET")
    send.add_argument("--path", default="/")
    send.add_argument("--seed", type=int, default=7)
    send.add_argument("--stop-file", default="", help="stop early once this file exists")
    send.add_argument("--scrape-every", type=float, default=0.0, help="seconds; 0: no scrapes")
    send.add_argument("--window-file", default="", help='"START END" epochs to describe apart')
    send.add_argument(
        "--window-grace", type=float, default=5.0, help="seconds sent after a late window file"
    )
    count.add_argument("--since", type=json.loads, help="an earlier `counts` output")
    count.add_argument("--answered", type=json.loads, help="a `send` output")
    args = parser.parse_args()
    if args.command == "send":
        result = run(args)
    else:
        result = counts(args.host, args.port, args.metrics_path)
        if args.since is not None and args.answered is not None:
            result = compare(result, args.since, args.answered["answered"])
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
