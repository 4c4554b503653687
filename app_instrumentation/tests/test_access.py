"""Access restriction of the metrics endpoint: off by default, networks (403) then token (401)."""

import ipaddress
import re

import pytest

from app_instrumentation.access import AccessPolicy, parse_networks, read_token
from sanic_testkit.service import SanicService


def test_no_restriction_by_default():
    assert AccessPolicy().status_for("203.0.113.9", None) == 200


def test_clients_outside_allowed_networks_get_403():
    policy = AccessPolicy(parse_networks("10.0.0.0/8, 192.168.1.0/24"))

    assert policy.status_for("10.1.2.3", None) == 200
    assert policy.status_for("192.168.1.77", None) == 200
    assert policy.status_for("192.168.2.1", None) == 403
    assert policy.status_for("not-an-ip", None) == 403


def test_ipv4_mapped_ipv6_clients_match_ipv4_networks():
    policy = AccessPolicy(parse_networks("127.0.0.0/8"))

    assert policy.status_for("::ffff:127.0.0.1", None) == 200


def test_ipv6_networks_are_supported():
    policy = AccessPolicy((ipaddress.ip_network("2001:db8::/32"),))

    assert policy.status_for("2001:db8::1", None) == 200
    assert policy.status_for("2001:db9::1", None) == 403


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("Bearer s3cret", 200),
        ("bearer s3cret", 200),
        ("Bearer s3cret-not", 401),
        ("Bearer ", 401),
        ("Basic s3cret", 401),
        (None, 401),
    ],
)
def test_bearer_token_must_match(authorization, status):
    assert AccessPolicy(token=b"s3cret").status_for("127.0.0.1", authorization) == status


def test_network_is_checked_before_token():
    policy = AccessPolicy(parse_networks("10.0.0.0/8"), b"s3cret")

    assert policy.status_for("127.0.0.1", "Bearer s3cret") == 403


def test_token_file_is_read_and_stripped(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")

    assert read_token(str(token_file)) == b"s3cret"
    assert read_token("") is None


def test_unreadable_or_empty_token_file_stops_the_service(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")

    with pytest.raises(SystemExit, match=f"METRICS_BEARER_TOKEN_FILE={empty} is empty"):
        read_token(str(empty))
    with pytest.raises(SystemExit, match=r"METRICS_BEARER_TOKEN_FILE=\S+/missing cannot be read"):
        read_token(str(tmp_path / "missing"))


def test_invalid_network_stops_the_service():
    with pytest.raises(
        SystemExit, match=re.escape("METRICS_ALLOWED_NETWORKS=10.0.0.1/8 holds '10.0.0.1/8'")
    ):
        parse_networks("10.0.0.1/8")


def test_running_service_enforces_networks_and_token(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    with SanicService(
        workers=1, METRICS_BEARER_TOKEN_FILE=str(token_file), METRICS_ALLOWED_NETWORKS="10.0.0.0/8"
    ) as denied_network:
        assert (
            denied_network.request("GET", "/metrics", {"Authorization": "Bearer s3cret"})[0] == 403
        )
    authorized = {"Authorization": "Bearer s3cret"}
    with SanicService(
        workers=1, scrape_headers=authorized, METRICS_BEARER_TOKEN_FILE=str(token_file)
    ) as service:
        status, headers, _ = service.request("GET", "/metrics")
        assert (status, headers["WWW-Authenticate"]) == (401, "Bearer")
        assert service.scrape()[("sanic_workers_live", frozenset())] == 1
