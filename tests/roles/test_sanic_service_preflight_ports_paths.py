"""sanic_service preflight's checks of ports and metrics paths (plugins/filter/
sanic_service_ports.py and plugins/module_utils/preflight_metrics_path.py, and the settings
table's rules of both through sanic_service_settings.py).
Each check is tried over many generated values, allowed and refused, and every refusal names the
host, the variable and what is allowed; VALUES_TRIED counts them per class.
"""

import itertools
import json

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_ports as ports,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_settings as service_settings,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_metrics_path as paths,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import quoted

from .preflight_cases import HOST, assert_each_class_tried_over_many_values, assert_named, service

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
    assert ports.port_errors(services, HOST, [listener(f"0.0.0.0:{port % 65534 + 2}")]) == []
    assert ports.port_errors([service(port=str(port))], HOST, []) == []
    assert (
        service_settings.settings_errors([service(port=port), service(port=str(port))], HOST) == []
    )


@pytest.mark.parametrize("port", NOT_PORTS)
def test_a_value_out_of_1_65535_is_refused(port):
    assert_named(
        service_settings.settings_errors([service(port=port)], HOST), ".port = ", "1-65535"
    )
    # Not again by the port check, which finds only ports the settings table allows.
    assert ports.port_errors([service(port=port)], HOST, []) == []


@pytest.mark.parametrize("port", PORTS[::4])
def test_two_services_on_one_port_are_both_refused(port):
    errors = ports.port_errors([service(port=port), service(name="b", port=str(port))], HOST, [])
    assert len(errors) == 2
    assert_named(errors, f"port = {port} is used by services api and b")


@pytest.mark.parametrize(
    ("template", "valid"), LISTEN_ADDRESSES, ids=[template for template, _ in LISTEN_ADDRESSES]
)
@pytest.mark.parametrize("port", PORTS[::8])
def test_a_service_on_the_port_another_program_listens_on_is_refused(template, valid, port):
    address = template.format(port)
    errors = ports.port_errors([service(port=port)], HOST, [listener(address)])
    if valid:
        assert_named(errors, f"port = {port} is held by Prometheus on this host", "prom_listen")
    else:
        assert_named(errors, f"prom_listen = {quoted(address)} is not allowed", "host:port")


@pytest.mark.parametrize("port", PORTS[::8])
def test_two_programs_of_the_inventory_on_one_port_are_refused(port):
    programs = [listener(f"0.0.0.0:{port}"), {**listener(f":{port}"), "variable": "am_listen"}]
    errors = ports.port_errors([], HOST, programs)
    assert_named(errors, f'am_listen = ":{port}" uses port {port}, as does prom_listen')


@pytest.mark.parametrize("in_group", [True, False])
@pytest.mark.parametrize("value", [None, "0.0.0.0:9100", "[::1]:9091"])
def test_listeners_are_the_groups_programs_on_this_host(in_group, value):
    groups = {"prometheus": [HOST] if in_group else ["other"], "sanic": [HOST]}
    host_vars = {} if value is None else {"prom_listen": value}
    found = ports.host_listeners(
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
    assert paths.metrics_path_errors([service(metrics_path=path)], HOST, routes) == []
    assert service_settings.settings_errors([service(metrics_path=path)], HOST) == []


@pytest.mark.parametrize("path", NOT_METRICS_PATHS)
def test_root_and_non_paths_are_refused(path):
    errors = service_settings.settings_errors([service(metrics_path=path)], HOST)
    # JSON-quoted, so a control character shows as its escape, on one line.
    assert_named(errors, f".metrics_path = {json.dumps(path)} is not allowed")


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
    errors = paths.metrics_path_errors([service(metrics_path=path)], HOST, {"api": [route]})
    if shadows:
        assert_named(errors, f"would shadow the app's route {quoted(route)}", "/src/api")
    else:
        assert errors == []


VALUES_TRIED = {
    "ports": len(PORTS) + len(NOT_PORTS) + len(LISTEN_ADDRESSES) * len(PORTS[::8]),
    "metrics paths": len(METRICS_PATHS)
    + len(NOT_METRICS_PATHS)
    + sum(len(a) + len(b) for a, b in ROUTES.values()),
}


def test_each_class_is_tried_over_many_values():
    assert_each_class_tried_over_many_values(VALUES_TRIED)
