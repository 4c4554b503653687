"""sanic_service preflight's checks of accounts and addresses (plugins/module_utils/
preflight_identity.py, module_utils/preflight_network.py, and the settings table's rule of bind
addresses through sanic_service_settings.py).
Each check is tried over many generated values, allowed and refused, and every refusal names the
host, the variable and what is allowed; VALUES_TRIED counts them per class.
"""

import ipaddress
import itertools
import random

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_settings as service_settings,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_identity as identity,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_network as network,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import quoted

from .preflight_cases import HOST, assert_each_class_tried_over_many_values, assert_named, service

# Seeded: the same values every run, so a failure names a value that fails again.
RANDOM = random.Random(17)


# --- identities -----------------------------------------------------------------------------------
BASE_PASSWD_USERS = sorted(identity.PRIVILEGED_USERS)
BASE_PASSWD_GROUPS = sorted(identity.PRIVILEGED_GROUPS)
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
        identity.identity_errors([service(user=name)], HOST),
        f'.user = "{name}"',
        "allow_privileged_user",
    )
    assert identity.identity_errors([service(user=name, allow_privileged_user=True)], HOST) == []


@pytest.mark.parametrize("name", BASE_PASSWD_GROUPS)
def test_a_base_passwd_group_is_refused_unless_the_service_opts_in(name):
    assert_named(identity.identity_errors([service(group=name)], HOST), f'.group = "{name}"')
    assert identity.identity_errors([service(group=name, allow_privileged_user=True)], HOST) == []


@pytest.mark.parametrize("uid", PRIVILEGED_IDS)
def test_an_existing_account_with_a_privileged_id_is_refused_whatever_its_name(uid):
    passwd = {"toor": ["x", str(uid), "0", "", "/", "/bin/sh"]}
    groups = {"wheel2": ["x", str(uid), ""]}
    user_error, group_error = identity.identity_errors(
        [service(user="toor", group="wheel2")], HOST, passwd, groups
    )
    assert_named([user_error], f'.user = "toor" (uid {uid} on the host)')
    assert_named([group_error], f'.group = "wheel2" (gid {uid} on the host)')


@pytest.mark.parametrize(("name", "uid"), list(zip(OWN_NAMES, itertools.cycle(UNPRIVILEGED_IDS))))
def test_an_account_of_the_services_own_is_allowed_existing_or_not(name, uid):
    assert identity.identity_errors([service(user=name, group=name)], HOST) == []
    passwd = {name: ["x", str(uid), str(uid), "", "/nonexistent", "/usr/sbin/nologin"]}
    groups = {name: ["x", str(uid), ""]}
    assert identity.identity_errors([service(user=name, group=name)], HOST, passwd, groups) == []


@pytest.mark.parametrize("name", BAD_ACCOUNT_NAMES)
def test_an_account_name_useradd_refuses_is_refused_even_with_the_opt_in(name):
    for keys in ({"user": name}, {"group": name}):
        for opt_in in (False, True):
            errors = identity.identity_errors([service(**keys, allow_privileged_user=opt_in)], HOST)
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
    assert service_settings.settings_errors([service(bind_address=address)], HOST) == []
    assert network.address_errors([service(bind_address=address)], HOST, "10.9.9.9") == []


@pytest.mark.parametrize("address", NOT_LISTENABLE)
def test_anything_else_is_refused_as_a_bind_address(address):
    errors = service_settings.settings_errors([service(bind_address=address)], HOST)
    assert_named(errors, f".bind_address = {quoted(address)}", "IPv4 or IPv6")


@pytest.mark.parametrize("name", HOST_NAMES)
def test_a_host_name_scraped_on_every_address_is_resolved_on_the_host(name):
    services = [service(bind_address="0.0.0.0")]
    assert network.address_errors(services, HOST, name) == []
    assert network.scrape_host_names(services, name) == [name]
    # Bound to one address, Prometheus scrapes that address: nothing to resolve.
    assert network.scrape_host_names([service(bind_address="10.0.0.1")], name) == []


@pytest.mark.parametrize("address", [*IPV4[:20], *IPV6[:20]])
def test_an_ip_literal_host_address_needs_no_resolving(address):
    services = [service(bind_address="::")]
    assert network.address_errors(services, HOST, address) == []
    assert network.scrape_host_names(services, address) == []


@pytest.mark.parametrize("name", NOT_HOST_NAMES)
def test_a_host_address_that_is_neither_ip_nor_host_name_is_refused(name):
    errors = network.address_errors([service(bind_address="")], HOST, name)
    assert_named(errors, "ansible_host (else the inventory name)")
    assert network.scrape_host_names([service(bind_address="")], name) == []


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
}


def test_each_class_is_tried_over_many_values():
    assert_each_class_tried_over_many_values(VALUES_TRIED)
