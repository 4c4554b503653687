"""Traffic and scrape helper the Molecule verify copies into the app containers (stdlib only).

`send`   sends exactly COUNT GET requests to 127.0.0.1:PORT/PATH over CONCURRENCY keep-alive
         connections and prints {"sent", "statuses", "errors", "seconds"} as JSON.
`scrape` reads the metrics endpoint once and prints the request counts it reports as JSON:
         {"total", "by_route", "workers_live", "workers_configured", "workers_recycled"}.
Both are bounded in time (--deadline), so a stuck service fails the check instead of hanging it.
`--https` talks to a service that serves HTTPS, without verifying its certificate: the probe
checks counts, Prometheus checks certificates.
"""

import argparse
import http.client
import json
import re
import ssl
import sys
import threading
import time
from collections import Counter

COUNT_SERIES = re.compile(
    r"^http_server_request_duration_seconds_count\{(?P<labels>[^}]*)\} (?P<value>\S+)$"
)
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
GAUGE = re.compile(r"^(?P<name>sanic_workers_(?:live|configured)) (?P<value>\S+)$")
RECYCLED = re.compile(r'^sanic_worker_restarts_total\{reason="recycled"\} (?P<value>\S+)$')


def connect(host, port, timeout, https=False):
    if not https:
        return http.client.HTTPConnection(host, port, timeout=timeout)
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection(host, port, timeout=timeout, context=unverified)


def send(host, port, path, count, concurrency, deadline, https=False):
    remaining = iter(range(count))
    lock = threading.Lock()
    statuses = Counter()
    errors = Counter()
    stop_at = time.monotonic() + deadline

    def worker():
        connection = connect(host, port, 10, https)
        while time.monotonic() < stop_at:
            with lock:
                if next(remaining, None) is None:
                    break
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                with lock:
                    statuses[response.status] += 1
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                connection = connect(host, port, 10, https)
                with lock:
                    errors[type(error).__name__] += 1
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "sent": sum(statuses.values()) + sum(errors.values()),
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "errors": dict(errors),
        "seconds": round(time.monotonic() - started, 3),
    }


def scrape(host, port, path, deadline, https=False):
    connection = connect(host, port, deadline, https)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read().decode()
    if response.status != 200:
        sys.exit(f"GET {path} answered {response.status}")
    by_route = Counter()
    gauges = {}
    for line in body.splitlines():
        if match := COUNT_SERIES.match(line):
            labels = dict(LABEL.findall(match["labels"]))
            key = f"{labels.get('http_route')} {labels.get('http_response_status_code')}"
            by_route[key] += int(float(match["value"]))
        elif match := GAUGE.match(line):
            gauges[match["name"]] = int(float(match["value"]))
        elif match := RECYCLED.match(line):
            gauges["recycled"] = int(float(match["value"]))
    return {
        "total": sum(by_route.values()),
        "by_route": dict(sorted(by_route.items())),
        "workers_live": gauges.get("sanic_workers_live"),
        "workers_configured": gauges.get("sanic_workers_configured"),
        "workers_recycled": gauges.get("recycled"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["send", "scrape"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds before giving up")
    parser.add_argument("--https", action="store_true", help="the service serves HTTPS")
    args = parser.parse_args()
    if args.command == "send":
        result = send(
            args.host, args.port, args.path, args.count, args.concurrency, args.deadline, args.https
        )
    else:
        result = scrape(args.host, args.port, args.path, args.deadline, args.https)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
