"""Sends a known number of requests to every lab service and reports what Prometheus counted.

Traffic goes from inside each app container to 127.0.0.1, like a local client; the report reads
only Prometheus' HTTP API (published on 127.0.0.1), so what it prints is what a dashboard sees. The
API asks for the lab admin's password over HTTPS (the lab's own CA): the report logs in, and first
checks that a request without the password is refused.
"""

import argparse
import base64
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PROMETHEUS_UIS = {
    "spm-prom-bookworm": "https://127.0.0.1:19092",
    "spm-prom-forky": "https://127.0.0.1:19093",
}
ALERTMANAGER_UIS = {
    "spm-prom-bookworm": "http://127.0.0.1:19094",
    "spm-prom-forky": "http://127.0.0.1:19095",
}
REPO = Path(__file__).resolve().parents[1]
# Made by ansible/lab.yml: the lab's CA and the admin's password (lab_dir in the lab inventory).
LAB_DIR = REPO / ".cache" / "lab"
CREDENTIALS_FILE = LAB_DIR / "prometheus-admin.password"
CA_FILE = LAB_DIR / "tls" / "ca.crt"
ADMIN = "admin"
REQUESTS_PER_SERVICE = 200
SCRAPE_WAIT_SECONDS = 60

# Runs inside an app container: sends N requests to 127.0.0.1:PORT over a few routes, over HTTPS
# (certificate unchecked: Prometheus checks it) for a service given a certificate.
TRAFFIC_SCRIPT = """
import http.client, ssl, sys
port, count, scheme = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
paths = ["/", "/items/7", "/api/v1/users/ada", "/no/such/page"]
if scheme == "https":
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=unverified)
else:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for i in range(count):
    conn.request("GET", paths[i % len(paths)])
    conn.getresponse().read()
print(count)
"""


def lab_services():
    """(host, service name, port, scheme) for every service in the lab inventory."""
    inventory = json.loads(
        subprocess.run(
            ["ansible-inventory", "--list"],
            cwd=REPO / "ansible",
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    hostvars = inventory["_meta"]["hostvars"]
    return [
        (
            host,
            service["name"],
            int(service["port"]),
            "https" if service.get("tls_cert_file") else "http",
        )
        for host in inventory["sanic_hosts"]["hosts"]
        for service in hostvars[host]["sanic_services"]
    ]


def send_traffic(host, port, scheme, count):
    subprocess.run(
        ["docker", "exec", "-i", host, "python3", "-", str(port), str(count), scheme],
        input=TRAFFIC_SCRIPT,
        text=True,
        capture_output=True,
        check=True,
    )


def open_api(url, password=None):
    request = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(f"{ADMIN}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=CA_FILE)
    return urllib.request.urlopen(request, timeout=10, context=context)


def status_without_password(base_url):
    try:
        with open_api(f"{base_url}/api/v1/query?query=up") as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def query(base_url, promql):
    url = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with open_api(url, CREDENTIALS_FILE.read_text().strip()) as response:
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

    refused = {name: status_without_password(url) for name, url in PROMETHEUS_UIS.items()}
    services = lab_services()
    before = {name: totals_by_service(url) for name, url in PROMETHEUS_UIS.items()}
    for host, _, port, scheme in services:
        send_traffic(host, port, scheme, args.requests)
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
        print(f"\n{name}: Prometheus {version}, UI {url}, Alertmanager UI {ALERTMANAGER_UIS[name]}")
        print(f"  without the password the API answers {refused[name]}")
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

    print(f"\nPrometheus UIs: user {ADMIN}, password in {CREDENTIALS_FILE}, CA {CA_FILE}")
    print("Tear the lab down with: make lab-down")
    exact = all(c == expected for c in counted.values())
    return 0 if exact and set(refused.values()) == {401} else 1


if __name__ == "__main__":
    sys.exit(main())
