"""Sends a known number of requests to every lab service and reports what Prometheus counted.

Traffic goes from inside each app container to 127.0.0.1, like a local client; the report reads
only Prometheus' HTTP API (published on 127.0.0.1), so what it prints is what a dashboard sees.
"""

import argparse
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request

PROMETHEUS_UIS = {
    "spm-prom-bookworm": "http://127.0.0.1:19092",
    "spm-prom-forky": "http://127.0.0.1:19093",
}
REQUESTS_PER_SERVICE = 200
SCRAPE_WAIT_SECONDS = 60

# Runs inside an app container: sends N requests to 127.0.0.1:PORT over a few routes.
TRAFFIC_SCRIPT = """
import http.client, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
paths = ["/", "/items/7", "/api/v1/users/ada", "/no/such/page"]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for i in range(count):
    conn.request("GET", paths[i % len(paths)])
    conn.getresponse().read()
print(count)
"""


def lab_services():
    """(host, service name, port) for every service in the lab inventory."""
    inventory = json.loads(
        subprocess.run(
            ["ansible-inventory", "--list"],
            cwd=sys.path[0] + "/../ansible",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    hostvars = inventory["_meta"]["hostvars"]
    return [
        (host, service["name"], int(service["port"]))
        for host in inventory["sanic_hosts"]["hosts"]
        for service in hostvars[host]["sanic_services"]
    ]


def send_traffic(host, port, count):
    subprocess.run(
        ["docker", "exec", "-i", host, "python3", "-", str(port), str(count)],
        input=TRAFFIC_SCRIPT,
        text=True,
        capture_output=True,
        check=True,
    )


def query(base_url, promql):
    url = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["data"]["result"]


def totals_by_service(base_url):
    rows = query(
        base_url, "sum by (instance, service) (http_server_request_duration_seconds_count)"
    )
    return {(r["metric"]["instance"], r["metric"]["service"]): float(r["value"][1]) for r in rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=REQUESTS_PER_SERVICE)
    args = parser.parse_args()

    services = lab_services()
    before = {name: totals_by_service(url) for name, url in PROMETHEUS_UIS.items()}
    for host, _, port in services:
        send_traffic(host, port, args.requests)
    expected = len(services) * args.requests

    deadline = time.monotonic() + SCRAPE_WAIT_SECONDS
    while True:
        after = {name: totals_by_service(url) for name, url in PROMETHEUS_UIS.items()}
        counted = {name: sum(after[name].values()) - sum(before[name].values()) for name in after}
        if all(c >= expected for c in counted.values()) or time.monotonic() > deadline:
            break
        time.sleep(2)

    for name, url in PROMETHEUS_UIS.items():
        version = query(url, "prometheus_build_info")[0]["metric"]["version"]
        print(f"\n{name}: Prometheus {version}, UI {url}")
        targets = query(url, 'up{job="sanic-api"}')
        for t in sorted(targets, key=lambda t: t["metric"]["instance"]):
            state = "up" if t["value"][1] == "1" else "DOWN"
            print(f"  target {t['metric']['instance']:<28} {state}")
        live = {r["metric"]["instance"]: r["value"][1] for r in query(url, "sanic_workers_live")}
        configured = {
            r["metric"]["instance"]: r["value"][1] for r in query(url, "sanic_workers_configured")
        }
        print(f"  {'instance':<28} {'service':<10} {'sent':>6} {'counted':>8} {'workers':>8}")
        for key in sorted(after[name]):
            instance, service = key
            delta = after[name][key] - before[name].get(key, 0.0)
            workers = f"{live.get(instance, '?')}/{configured.get(instance, '?')}"
            print(f"  {instance:<28} {service:<10} {args.requests:>6} {delta:>8.0f} {workers:>8}")
        verdict = "exact" if counted[name] == expected else "MISMATCH"
        print(f"  total sent {expected}, counted {counted[name]:.0f}: {verdict}")

    print("\nTear the lab down with: make lab-down")
    return 0 if all(c == expected for c in counted.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
