"""sanic_service preflight's checks by class of value (filter_plugins/sanic_service.py, the
`*_errors` functions): each is tried over many generated values, allowed and refused, and every
refusal names the host, the variable and what is allowed. VALUES_TRIED counts them per class.
"""

import importlib.util
import ipaddress
import itertools
import json
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "roles/sanic_service/filter_plugins/sanic_service.py"

spec = importlib.util.spec_from_file_location("sanic_service_filters", PLUGIN)
filters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(filters)

HOST = "app-1"
# Seeded: the same values every run, so a failure names a value that fails again.
RANDOM = random.Random(17)


def service(**keys):
    resolved = {
        "name": "api",
        "user": "api",
        "group": "api",
        "port": 8080,
        "bind_address": "127.0.0.1",
        "metrics_path": "/metrics",
        "app_source": "/src/api",
        "allow_privileged_user": False,
    }
    return {**resolved, **keys}


def assert_named(errors, *words):
    """Every message starts with the host and names the variable and what is allowed."""
    assert errors
    for message in errors:
        assert message.startswith(f"{HOST}: ")
        for word in words:
            assert word in message
        assert any(what in message for what in ("allowed", "use ", "needs its own"))


# --- identities -----------------------------------------------------------------------------------
BASE_PASSWD_USERS = sorted(filters.PRIVILEGED_USERS)
BASE_PASSWD_GROUPS = sorted(filters.PRIVILEGED_GROUPS)
OWN_NAMES = [f"{prefix}{index}" for prefix in ("svc", "api_", "_app-") for index in range(40)]
# Accounts the host already has, named like a service's own but with a privileged id.
PRIVILEGED_IDS = [*range(100), 65534]
UNPRIVILEGED_IDS = [*range(100, 1000, 7), *range(1000, 60001, 2999), 65533, 65535]
BAD_ACCOUNT_NAMES = [
    "Api",
    "1api",
    "-api",
    "a" * 33,
    "api user",
    "api/x",
    "api.x",
    "",
    "ü",
    "api:x",
]


@pytest.mark.parametrize("name", BASE_PASSWD_USERS)
def test_a_base_passwd_user_is_refused_unless_the_service_opts_in(name):
    assert_named(
        filters.identity_errors([service(user=name)], HOST),
        f'.user = "{name}"',
        "allow_privileged_user",
    )
    assert filters.identity_errors([service(user=name, allow_privileged_user=True)], HOST) == []


@pytest.mark.parametrize("name", BASE_PASSWD_GROUPS)
def test_a_base_passwd_group_is_refused_unless_the_service_opts_in(name):
    assert_named(filters.identity_errors([service(group=name)], HOST), f'.group = "{name}"')
    assert filters.identity_errors([service(group=name, allow_privileged_user=True)], HOST) == []


@pytest.mark.parametrize("uid", PRIVILEGED_IDS)
def test_an_existing_account_with_a_privileged_id_is_refused_whatever_its_name(uid):
    passwd = {"toor": ["x", str(uid), "0", "", "/", "/bin/sh"]}
    groups = {"wheel2": ["x", str(uid), ""]}
    user_error, group_error = filters.identity_errors(
        [service(user="toor", group="wheel2")], HOST, passwd, groups
    )
    assert_named([user_error], f'.user = "toor" (uid {uid} on the host)')
    assert_named([group_error], f'.group = "wheel2" (gid {uid} on the host)')


@pytest.mark.parametrize(("name", "uid"), list(zip(OWN_NAMES, itertools.cycle(UNPRIVILEGED_IDS))))
def test_an_account_of_the_services_own_is_allowed_existing_or_not(name, uid):
    assert filters.identity_errors([service(user=name, group=name)], HOST) == []
    passwd = {name: ["x", str(uid), str(uid), "", "/nonexistent", "/usr/sbin/nologin"]}
    groups = {name: ["x", str(uid), ""]}
    assert filters.identity_errors([service(user=name, group=name)], HOST, passwd, groups) == []


@pytest.mark.parametrize("name", BAD_ACCOUNT_NAMES)
def test_an_account_name_useradd_refuses_is_refused_even_with_the_opt_in(name):
    for keys in ({"user": name}, {"group": name}):
        for opt_in in (False, True):
            errors = filters.identity_errors([service(**keys, allow_privileged_user=opt_in)], HOST)
            assert_named(errors, ".user/group = ", "lowercase name")


# --- addresses ------------------------------------------------------------------------------------
IPV4 = [str(ipaddress.IPv4Address(RANDOM.getrandbits(32))) for _ in range(60)]
IPV4 += ["0.0.0.0", "127.0.0.1", "255.255.255.255"]
IPV6 = [str(ipaddress.IPv6Address(RANDOM.getrandbits(128))) for _ in range(40)]
IPV6 += ["::", "::1", "fd00::5", "::ffff:10.0.0.1", "fe80::1"]
IPV6 += [f"[{address}]" for address in IPV6[:20]]
NOT_LISTENABLE = [
    *(
        ".".join(map(str, octets))
        for octets in itertools.product((1, 256), (0, 300), (0,), (7, 999))
        if max(octets) > 255
    ),
    "[10.0.0.1]",
    "10.1.2.3:80",
    "10.1.2",
    "fd00::zz",
    "[::1",
    "::1]x",
    "localhost",
    "app-1.internal",
    " 10.0.0.1",
    "10.0.0.1/32",
    "*",
]
HOST_NAMES = [
    "app-1",
    "app-1.example.net",
    "a",
    "x" * 63,
    ".".join(["abc"] * 60),
    "APP.example.net.",
    *(f"host{index}.lab" for index in range(30)),
]
NOT_HOST_NAMES = [
    "app_1",
    "-app",
    "app-",
    "x" * 64,
    ".".join(["abcd"] * 60),
    "app..net",
    "app 1",
    "app/1",
    "",
    "10.1.2.300",
    "1.2.3",
]


@pytest.mark.parametrize("address", ["", *IPV4, *IPV6])
def test_an_ip_literal_or_every_address_is_a_bind_address(address):
    assert filters.address_errors([service(bind_address=address)], HOST, "10.9.9.9") == []


@pytest.mark.parametrize("address", NOT_LISTENABLE)
def test_anything_else_is_refused_as_a_bind_address(address):
    errors = filters.address_errors([service(bind_address=address)], HOST, "10.9.9.9")
    assert_named(errors, f".bind_address = {filters._json(address)}", "IPv4 or IPv6")


@pytest.mark.parametrize("name", HOST_NAMES)
def test_a_host_name_scraped_on_every_address_is_resolved_on_the_host(name):
    services = [service(bind_address="0.0.0.0")]
    assert filters.address_errors(services, HOST, name) == []
    assert filters.scrape_host_names(services, name) == [name]
    # Bound to one address, Prometheus scrapes that address: nothing to resolve.
    assert filters.scrape_host_names([service(bind_address="10.0.0.1")], name) == []


@pytest.mark.parametrize("address", [*IPV4[:20], *IPV6[:20]])
def test_an_ip_literal_host_address_needs_no_resolving(address):
    services = [service(bind_address="::")]
    assert filters.address_errors(services, HOST, address) == []
    assert filters.scrape_host_names(services, address) == []


@pytest.mark.parametrize("name", NOT_HOST_NAMES)
def test_a_host_address_that_is_neither_ip_nor_host_name_is_refused(name):
    errors = filters.address_errors([service(bind_address="")], HOST, name)
    assert_named(errors, "ansible_host (else the inventory name)")
    assert filters.scrape_host_names([service(bind_address="")], name) == []


# --- ports ----------------------------------------------------------------------------------------
PORTS = sorted({1, 80, 1023, 1024, 9090, 65535, *range(2, 65535, 653)})
NOT_PORTS = [0, -1, 65536, 70000, 100000, "abc", "", "80x", "8 0", None]
PROMETHEUS = {"name": "Prometheus", "group": "prometheus", "variable": "prom_listen", "default": ""}
LISTEN_ADDRESSES = [
    ("0.0.0.0:{}", True),
    ("127.0.0.1:{}", True),
    ("[::]:{}", True),
    ("[fd00::5]:{}", True),
    (":{}", True),
    ("{}", True),
    ("prom.example.net:{}", True),
    ("::{}", False),
    ("fd00::5:{}", False),
    ("[prom.example.net]:{}", False),
    ("prom_1:{}", False),
    ("0.0.0.0:{}00000", False),
    ("0.0.0.0", False),
    ("0.0.0.0:", False),
]


def listener(address):
    return {"name": "Prometheus", "variable": "prom_listen", "value": address}


@pytest.mark.parametrize("port", PORTS)
def test_a_port_of_its_own_is_allowed_as_int_or_string(port):
    services = [service(port=port), service(name="other", port=port % 65535 + 1)]
    assert filters.port_errors(services, HOST, [listener(f"0.0.0.0:{port % 65534 + 2}")]) == []
    assert filters.port_errors([service(port=str(port))], HOST, []) == []


@pytest.mark.parametrize("port", NOT_PORTS)
def test_a_value_out_of_1_65535_is_refused(port):
    assert_named(filters.port_errors([service(port=port)], HOST, []), ".port = ", "1-65535")


@pytest.mark.parametrize("port", PORTS[::4])
def test_two_services_on_one_port_are_both_refused(port):
    errors = filters.port_errors([service(port=port), service(name="b", port=str(port))], HOST, [])
    assert len(errors) == 2
    assert_named(errors, f"port = {port} is used by services api and b")


@pytest.mark.parametrize(
    ("template", "valid"), LISTEN_ADDRESSES, ids=[template for template, _ in LISTEN_ADDRESSES]
)
@pytest.mark.parametrize("port", PORTS[::8])
def test_a_service_on_the_port_another_program_listens_on_is_refused(template, valid, port):
    address = template.format(port)
    errors = filters.port_errors([service(port=port)], HOST, [listener(address)])
    if valid:
        assert_named(errors, f"port = {port} is held by Prometheus on this host", "prom_listen")
    else:
        assert_named(errors, f"prom_listen = {filters._json(address)} is not allowed", "host:port")


@pytest.mark.parametrize("port", PORTS[::8])
def test_two_programs_of_the_inventory_on_one_port_are_refused(port):
    programs = [listener(f"0.0.0.0:{port}"), {**listener(f":{port}"), "variable": "am_listen"}]
    errors = filters.port_errors([], HOST, programs)
    assert_named(errors, f'am_listen = ":{port}" uses port {port}, as does prom_listen')


@pytest.mark.parametrize("in_group", [True, False])
@pytest.mark.parametrize("value", [None, "0.0.0.0:9100", "[::1]:9091"])
def test_listeners_are_the_groups_programs_on_this_host(in_group, value):
    groups = {"prometheus": [HOST] if in_group else ["other"], "sanic": [HOST]}
    host_vars = {} if value is None else {"prom_listen": value}
    found = filters.host_listeners(
        [{**PROMETHEUS, "default": "0.0.0.0:9090"}], HOST, groups, host_vars
    )
    expected = [listener(value or "0.0.0.0:9090")] if in_group else []
    assert found == expected


# --- metrics paths --------------------------------------------------------------------------------
SEGMENTS = ["metrics", "internal", "_status", "prom-metrics", "v1", "x.y", "a%20b"]
METRICS_PATHS = ["/".join(["", *parts]) for parts in itertools.permutations(SEGMENTS, 2)]
METRICS_PATHS += [f"/{segment}" for segment in SEGMENTS]
NOT_METRICS_PATHS = ["/", "//", "///", "metrics", "", "/met rics", " /metrics", "/metrics\n"]
# App route -> the metrics paths it would shadow, and some it would not.
ROUTES = {
    "/metrics": (["/metrics", "/metrics/"], ["/metrics2", "/metric", "/metrics/x"]),
    "/<name>": (["/metrics", "/x"], ["/a/b", "/metrics/x"]),
    "/<name:str>": (["/metrics"], ["/a/b"]),
    "/api/<name:int>": (["/api/1", "/api/x"], ["/api", "/api/1/2"]),
    "/files/<rest:path>": (["/files/a", "/files/a/b/c"], ["/files", "/file/a"]),
    "/api/v1/users/<name:str>": (["/api/v1/users/metrics"], ["/api/v1/users", "/metrics"]),
}


@pytest.mark.parametrize("path", METRICS_PATHS)
def test_a_path_of_its_own_is_allowed(path):
    routes = {"api": ["/", "/items/<item_id:int>", "/health"]}
    assert filters.metrics_path_errors([service(metrics_path=path)], HOST, routes) == []


@pytest.mark.parametrize("path", NOT_METRICS_PATHS)
def test_root_and_non_paths_are_refused(path):
    errors = filters.metrics_path_errors([service(metrics_path=path)], HOST, {})
    assert_named(errors, f".metrics_path = {filters._json(path)} is not allowed")


@pytest.mark.parametrize(
    ("route", "path", "shadows"),
    [
        (route, path, shadows)
        for route, (shadowed, free) in ROUTES.items()
        for paths, shadows in ((shadowed, True), (free, False))
        for path in paths
    ],
)
def test_a_path_that_an_app_route_matches_is_refused(route, path, shadows):
    errors = filters.metrics_path_errors([service(metrics_path=path)], HOST, {"api": [route]})
    if shadows:
        assert_named(errors, f"would shadow the app's route {filters._json(route)}", "/src/api")
    else:
        assert errors == []


# --- what the app hosts read from the Prometheus servers ------------------------------------------
SD_DIRS = [None, "", "  ", "relative/dir", "file_sd", "/etc/prometheus/file_sd/sanic", "/srv/sd"]


@pytest.mark.parametrize("values", list(itertools.product(SD_DIRS, repeat=2)))
def test_every_prometheus_server_needs_an_absolute_file_sd_dir(values):
    hostvars = {
        f"prom{index}": {} if value is None else {"sanic_scrape_job_file_sd_dir": value}
        for index, value in enumerate(values)
    }
    errors = filters.scrape_server_errors(HOST, "prometheus_servers", list(hostvars), hostvars)
    refused = [f"prom{i}" for i, value in enumerate(values) if not str(value).startswith("/")]
    assert [message.split(" for Prometheus server ")[1].split()[0] for message in errors] == refused
    if errors:
        assert_named(errors, "sanic_scrape_job_file_sd_dir", "group prometheus_servers")


# --- worker recycling -----------------------------------------------------------------------------
RECYCLING_KEYS = list(filters.RECYCLING_ENVIRONMENT)
NON_NEGATIVE = [0, 1, 2, 999, 1000, 2**31, 2**40, "0", "5000", *RANDOM.sample(range(10**9), 30)]
NOT_NON_NEGATIVE = [
    -1,
    -1000,
    "-1",
    "1e3",
    "1.5",
    "",
    " 5",
    "5 ",
    "ten",
    "0x10",
    1.5,
    2.0,
    True,
    False,
    None,
    [],
    {},
    *RANDOM.sample(range(-(10**9), 0), 10),
]


@pytest.mark.parametrize(("key", "value"), list(itertools.product(RECYCLING_KEYS, NON_NEGATIVE)))
def test_a_recycling_setting_of_an_integer_zero_or_more_is_allowed(key, value):
    # A request limit, so that any jitter has one to add to.
    settings = {**dict.fromkeys(RECYCLING_KEYS, 0), "max_requests": 1}
    assert filters.recycling_errors([service(**{**settings, key: value})], HOST) == []


@pytest.mark.parametrize("jitter", [value for value in NON_NEGATIVE if int(value) > 0])
def test_jitter_without_a_request_limit_is_refused(jitter):
    settings = {**dict.fromkeys(RECYCLING_KEYS, 0), "max_requests_jitter": jitter}
    errors = filters.recycling_errors([service(**settings)], HOST)
    assert len(errors) == 1
    assert_named(errors, f".max_requests_jitter = {json.dumps(jitter)}", "without max_requests")


@pytest.mark.parametrize(
    ("key", "value"), list(itertools.product(RECYCLING_KEYS, NOT_NON_NEGATIVE))
)
def test_a_recycling_setting_that_is_not_an_integer_zero_or_more_is_refused(key, value):
    settings = dict.fromkeys(RECYCLING_KEYS, 0)
    errors = filters.recycling_errors([service(**{**settings, key: value})], HOST)
    assert len(errors) == 1
    assert_named(errors, f".{key} = {json.dumps(value)}", "integer >= 0", f"sanic_service_{key}")


@pytest.mark.parametrize(("key", "variable"), list(filters.RECYCLING_ENVIRONMENT.items()))
def test_a_recycling_setting_in_the_environment_is_refused_for_its_key(key, variable):
    settings = dict.fromkeys(RECYCLING_KEYS, 0)
    errors = filters.recycling_errors([service(**settings, environment={variable: "100"})], HOST)
    assert len(errors) == 1
    assert_named(errors, f".environment.{variable} is not allowed", f"service's {key} key")


VALUES_TRIED = {
    "identities": len(BASE_PASSWD_USERS)
    + len(BASE_PASSWD_GROUPS)
    + len(PRIVILEGED_IDS)
    + len(OWN_NAMES)
    + len(BAD_ACCOUNT_NAMES),
    "addresses": 1
    + len(IPV4)
    + len(IPV6)
    + len(NOT_LISTENABLE)
    + len(HOST_NAMES)
    + len(NOT_HOST_NAMES),
    "ports": len(PORTS) + len(NOT_PORTS) + len(LISTEN_ADDRESSES) * len(PORTS[::8]),
    "metrics paths": len(METRICS_PATHS)
    + len(NOT_METRICS_PATHS)
    + sum(len(a) + len(b) for a, b in ROUTES.values()),
    "prometheus servers' variables": len(SD_DIRS) ** 2,
    "worker recycling": len(RECYCLING_KEYS) * (len(NON_NEGATIVE) + len(NOT_NON_NEGATIVE) + 1),
}


def test_each_class_is_tried_over_many_values():
    assert min(VALUES_TRIED.values()) >= 40, VALUES_TRIED
