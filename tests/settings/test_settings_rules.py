"""The settings table's rules, as the control node words them (`service_errors`, preflight's
messages) and as the service words them at start (`Setting.parse`): the same rule refuses the same
values in both places, and each message names where, the value and what is allowed."""

import itertools
import json

import pytest

from app_instrumentation.settings import BY_ENVIRONMENT, BY_KEY, SETTINGS, service_errors

WHERE = "app-1: sanic_services[name=sanic]"
RULED = [setting for setting in SETTINGS if setting.rule]
# Values every rule of the table is tried on, beside its own example and default.
TRIED = [
    -1, 0, 1, 80, 70000, 1.5, True, None, [], "", " ", "5 ", "ten", "0x10", "/", "prom",
    "/metrics", "/dev/shm/../x", "app.server", "app.server:create_app", "127.0.0.1", "::",
    "app.example.net", "10.0.0.1/8", "10.0.0.0/8,127.0.0.1/32", "0.1,0.05", "0.01,0.1,1", "nan",
]  # fmt: skip


@pytest.mark.parametrize(
    ("setting", "value"),
    list(itertools.product(RULED, TRIED)),
    ids=[f"{s.name}={v!r}" for s, v in itertools.product(RULED, TRIED)],
)
def test_the_control_node_refuses_what_the_service_refuses_at_start(setting, value):
    refused_here = setting.refusal(value) is not None
    try:
        setting.parse(str(value))
        refused_at_start = False
    except SystemExit as exit:
        refused_at_start = True
        if setting.environment:
            assert str(exit).startswith(f"app_instrumentation: error: {setting.environment}=")
    assert refused_here == refused_at_start


@pytest.mark.parametrize("setting", RULED, ids=[setting.name for setting in RULED])
def test_each_rule_takes_its_example_and_its_default(setting):
    assert setting.refusal(setting.example) is None
    if setting.default is not None:
        assert setting.refusal(setting.default) is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_requests", -1, 'max_requests = -1 is not allowed; use an integer >= 0, 0 for off'),
        ("workers", 0, "workers = 0 is not allowed; use an integer >= 1"),
        ("port", 70000, "port = 70000 is not allowed; use a TCP port in 1-65535"),
        ("factory", "app.server", 'factory = "app.server" is not allowed; use module:callable'),
        ("multiproc_dir", "prom_sanic",
         'multiproc_dir = "prom_sanic" is not allowed; use an absolute directory below a tmpfs'),
        ("multiproc_dir", "/",
         'multiproc_dir = "/" is not allowed; use an absolute directory below a tmpfs'),
        ("bind_address", "app.example.net",
         'bind_address = "app.example.net" is not allowed; use an IPv4 or IPv6 address'),
        ("name", "bad/name", 'name = "bad/name" is not allowed; use 1-200 letters, digits'),
    ],
)  # fmt: skip
def test_a_refused_key_is_worded_as_preflight_words_it(key, value, message):
    errors = service_errors({key: value}, WHERE)
    assert len(errors) == 1
    assert errors[0].startswith(f"{WHERE}.{message}")
    if BY_KEY[key].role_variable:
        assert errors[0].endswith(f" (default sanic_service_{key})")


def test_a_refused_environment_value_names_the_variable_and_what_is_allowed():
    networks = "127.0.0.1/32,10.0.0.1/8"
    assert service_errors({"environment": {"METRICS_ALLOWED_NETWORKS": networks}}, WHERE) == [
        f'{WHERE}.environment.METRICS_ALLOWED_NETWORKS = "{networks}" is not allowed; use'
        " comma-separated CIDRs with zero host bits, e.g. 10.0.0.0/8,127.0.0.1/32 (not a CIDR:"
        " 10.0.0.1/8)"
    ]


def test_an_empty_environment_value_is_the_default_as_at_start():
    empty = {setting.environment: "" for setting in SETTINGS if setting.environment}
    keyed = {name for name, setting in BY_ENVIRONMENT.items() if setting.key}
    environment = {name: value for name, value in empty.items() if name not in keyed}
    assert service_errors({"environment": environment}, WHERE) == []


@pytest.mark.parametrize("variable", sorted(n for n, s in BY_ENVIRONMENT.items() if s.key))
def test_a_variable_of_a_key_is_set_through_the_key_only(variable):
    key = BY_ENVIRONMENT[variable].key
    errors = service_errors({"environment": {variable: "100"}}, WHERE)
    assert len(errors) == 1
    assert errors[0].startswith(
        f"{WHERE}.environment.{variable} is not allowed; use the service's {key} key"
    )


@pytest.mark.parametrize("jitter", [1, "500", 10**9])
def test_jitter_without_a_request_limit_is_refused_once(jitter):
    service = {"max_requests": 0, "max_requests_jitter": jitter}
    assert service_errors(service, WHERE) == [
        f"{WHERE}.max_requests_jitter = {json.dumps(jitter)} is not allowed without max_requests;"
        " use max_requests > 0 too, or max_requests_jitter 0"
    ]
    assert service_errors({**service, "max_requests": 1}, WHERE) == []
