"""sanic_service's resolver (plugins/filter/sanic_service_resolver.py): the one place a service's
defaults, derived names and addresses are computed, and the network check preflight shares with
the package (plugins/module_utils/preflight_network.py).
"""

import ipaddress

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_resolver,
    sanic_service_settings,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_network as sanic_service_network,
)

from app_instrumentation.settings import ALLOWED_NETWORKS

# A role-wide environment, for an item's own to merge over.
ROLE_ENVIRONMENT = {"SHARED": "1", "OVERRIDDEN": "role"}


@pytest.fixture
def resolve(resolve_services):
    """Service `api` on app-1 with `item`'s keys, resolved with the role's other defaults."""

    def resolved_service(host_address="10.1.2.3", **item):
        service = {"name": "api", "factory": "app:create", "app_source": "/src", "port": 8080}
        (resolved,) = resolve_services(
            [{**service, **item}],
            environment=ROLE_ENVIRONMENT,
            host_address=host_address,
            inventory_hostname="app-1",
        )
        return resolved

    return resolved_service


def test_keys_left_out_take_the_role_defaults_and_the_name_derives_the_rest(resolve):
    service = resolve()
    assert {key: service[key] for key in ("bind_address", "workers", "metrics_path")} == {
        "bind_address": "127.0.0.1",
        "workers": 2,
        "metrics_path": "/metrics",
    }
    assert (service["user"], service["group"]) == ("api", "api")
    assert service["multiproc_dir"] == "/dev/shm/prom_api"
    assert service["unit_name"] == "sanic-api.service"
    assert service["unit_path"] == "/etc/systemd/system/sanic-api.service"
    assert service["tmpfiles_path"] == "/etc/tmpfiles.d/sanic-api.conf"
    assert service["install_dir"] == "/opt/sanic-services/api"
    assert service["scrape_instance"] == "app-1:8080"
    assert service["socket_name"] == "sanic-api.socket"
    assert service["socket_path"] == "/etc/systemd/system/sanic-api.socket"
    assert service["socket_backlog"] == 4096
    assert service["allow_privileged_user"] is False


def test_an_item_overrides_defaults_and_its_environment_merges_over_the_roles(resolve):
    service = resolve(workers=5, user="web", environment={"OVERRIDDEN": "item", "OWN": "x"})
    assert (service["workers"], service["user"], service["group"]) == (5, "web", "api")
    assert service["environment"] == {"SHARED": "1", "OVERRIDDEN": "item", "OWN": "x"}


def recycling_environment(service):
    environment = sanic_service_settings.settings_environment(service)
    return {name: value for name, value in environment.items() if name.startswith("SANIC_")}


def test_recycling_is_off_by_default_and_each_service_sets_its_own(resolve):
    recycled = resolve(max_requests=1000, max_rss_bytes=512 * 2**20)
    assert recycling_environment(resolve()) == {
        "SANIC_WORKER_MAX_REQUESTS": 0,
        "SANIC_WORKER_MAX_REQUESTS_JITTER": 0,
        "SANIC_WORKER_MAX_RSS_BYTES": 0,
    }
    assert recycling_environment(recycled) == {
        "SANIC_WORKER_MAX_REQUESTS": 1000,
        "SANIC_WORKER_MAX_REQUESTS_JITTER": 0,
        "SANIC_WORKER_MAX_RSS_BYTES": 536870912,
    }


# bind address -> systemd's ListenStream=
LISTEN_STREAMS = {
    "127.0.0.1": "127.0.0.1:8080",
    "0.0.0.0": "0.0.0.0:8080",
    "": "8080",
    "::": "[::]:8080",
    "::1": "[::1]:8080",
    "[fd00::5]": "[fd00::5]:8080",
}


@pytest.mark.parametrize("bind_address", list(LISTEN_STREAMS))
def test_the_socket_unit_listens_where_the_service_is_bound(resolve, bind_address):
    assert resolve(bind_address=bind_address)["listen_stream"] == LISTEN_STREAMS[bind_address]


@pytest.mark.parametrize(
    ("address", "listenable"),
    [
        ("", True),
        ("0.0.0.0", True),
        ("10.1.2.3", True),
        ("::", True),
        ("[::1]", True),
        ("fd00::5", True),
        ("app-1.internal", False),
        ("localhost", False),
        ("10.1.2.300", False),
        ("10.1.2.3:80", False),
        ("fd00::zz", False),
    ],
)
def test_only_ip_literals_and_every_address_can_be_listened_on(address, listenable):
    assert sanic_service_resolver.listenable(address) is listenable


# bind address, host address -> (health gate address, Prometheus target)
ADDRESS_CASES = {
    ("127.0.0.1", "10.1.2.3"): ("127.0.0.1", "127.0.0.1:8080"),
    ("10.9.9.9", "10.1.2.3"): ("10.9.9.9", "10.9.9.9:8080"),
    ("0.0.0.0", "10.1.2.3"): ("127.0.0.1", "10.1.2.3:8080"),
    ("", "10.1.2.3"): ("127.0.0.1", "10.1.2.3:8080"),
    ("::", "10.1.2.3"): ("127.0.0.1", "10.1.2.3:8080"),
    ("::", "fd00::7"): ("127.0.0.1", "[fd00::7]:8080"),
    ("0.0.0.0", "app-1.example.net"): ("127.0.0.1", "app-1.example.net:8080"),
    ("::1", "10.1.2.3"): ("[::1]", "[::1]:8080"),
    ("fd00::5", "10.1.2.3"): ("[fd00::5]", "[fd00::5]:8080"),
    ("[fd00::5]", "10.1.2.3"): ("[fd00::5]", "[fd00::5]:8080"),
    ("app-1.internal", "10.1.2.3"): ("app-1.internal", "app-1.internal:8080"),
}


@pytest.mark.parametrize(("bind_address", "host_address"), list(ADDRESS_CASES))
def test_gate_and_scrape_addresses_are_valid_url_hosts(resolve, bind_address, host_address):
    service = resolve(host_address=host_address, bind_address=bind_address)
    assert (service["gate_address"], service["scrape_target"]) == ADDRESS_CASES[
        (bind_address, host_address)
    ]
    # What Prometheus parses: host:port, the host an IP literal (bracketed if v6) or a name.
    host, _, port = service["scrape_target"].rpartition(":")
    assert port == "8080"
    if host.startswith("["):
        assert ipaddress.ip_address(host[1:-1]).version == 6


@pytest.mark.parametrize(
    ("networks", "invalid"),
    [
        ("", []),
        ("10.0.0.0/8, 127.0.0.1/32", []),
        ("10.0.0.1/8", ["10.0.0.1/8"]),
        ("not-a-cidr,fd00::/8", ["not-a-cidr"]),
        (" , ", []),
    ],
)
def test_invalid_networks_are_those_the_package_refuses(networks, invalid):
    refusal = ALLOWED_NETWORKS.refusal(networks)
    # The settings table's rule, the service's at start too, names the first entry it refuses.
    assert (refusal.problem.split(":")[0] if refusal else None) == (
        f"holds {invalid[0]!r}" if invalid else None
    )


@pytest.mark.parametrize(
    ("networks", "address", "admitted"),
    [
        ("", "127.0.0.1", True),
        ("127.0.0.0/8", "127.0.0.1", True),
        ("10.0.0.0/8", "127.0.0.1", False),
        ("::1/128", "[::1]", True),
        # A dual-stack socket shows an IPv4 client as ::ffff:a.b.c.d: the package admits it.
        ("127.0.0.0/8", "::ffff:127.0.0.1", True),
        ("bad,10.0.0.0/8", "10.1.1.1", True),
    ],
)
def test_networks_admit_as_the_service_would(networks, address, admitted):
    assert sanic_service_network.networks_admit(networks, address) is admitted
