"""sanic_service preflight's checks of the Prometheus servers' variables and of worker recycling
(plugins/module_utils/preflight_scrape_servers.py, and the settings table's rules of the recycling
keys through sanic_service_settings.py).
Each check is tried over many generated values, allowed and refused, and every refusal names the
host, the variable and what is allowed; VALUES_TRIED counts them per class.
"""

import itertools
import json
import random

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_settings as service_settings,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_scrape_servers as servers,
)

from app_instrumentation.settings import MAX_REQUESTS, MAX_REQUESTS_JITTER, MAX_RSS_BYTES

from .preflight_cases import HOST, assert_each_class_tried_over_many_values, assert_named, service

# Seeded: the same values every run, so a failure names a value that fails again.
RANDOM = random.Random(17)


# --- what the app hosts read from the Prometheus servers ------------------------------------------
SD_DIRS = [None, "", "  ", "relative/dir", "file_sd", "/etc/prometheus/file_sd/sanic", "/srv/sd"]


@pytest.mark.parametrize("values", list(itertools.product(SD_DIRS, repeat=2)))
def test_every_prometheus_server_needs_an_absolute_file_sd_dir(values):
    hostvars = {
        f"prom{index}": {} if value is None else {"sanic_scrape_job_file_sd_dir": value}
        for index, value in enumerate(values)
    }
    errors = servers.scrape_server_errors(HOST, "prometheus_servers", list(hostvars), hostvars)
    refused = [f"prom{i}" for i, value in enumerate(values) if not str(value).startswith("/")]
    assert [message.split(" for Prometheus server ")[1].split()[0] for message in errors] == refused
    if errors:
        assert_named(errors, "sanic_scrape_job_file_sd_dir", "group prometheus_servers")


# --- worker recycling -----------------------------------------------------------------------------
RECYCLING = {
    setting.key: setting.environment
    for setting in (MAX_REQUESTS, MAX_REQUESTS_JITTER, MAX_RSS_BYTES)
}
RECYCLING_KEYS = list(RECYCLING)
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
    assert service_settings.settings_errors([service(**{**settings, key: value})], HOST) == []


@pytest.mark.parametrize("jitter", [value for value in NON_NEGATIVE if int(value) > 0])
def test_jitter_without_a_request_limit_is_refused(jitter):
    settings = {**dict.fromkeys(RECYCLING_KEYS, 0), "max_requests_jitter": jitter}
    errors = service_settings.settings_errors([service(**settings)], HOST)
    assert len(errors) == 1
    assert_named(errors, f".max_requests_jitter = {json.dumps(jitter)}", "without max_requests")


@pytest.mark.parametrize(
    ("key", "value"), list(itertools.product(RECYCLING_KEYS, NOT_NON_NEGATIVE))
)
def test_a_recycling_setting_that_is_not_an_integer_zero_or_more_is_refused(key, value):
    settings = dict.fromkeys(RECYCLING_KEYS, 0)
    errors = service_settings.settings_errors([service(**{**settings, key: value})], HOST)
    assert len(errors) == 1
    assert_named(errors, f".{key} = {json.dumps(value)}", "integer >= 0", f"sanic_service_{key}")


@pytest.mark.parametrize(("key", "variable"), list(RECYCLING.items()))
def test_a_recycling_setting_in_the_environment_is_refused_for_its_key(key, variable):
    settings = dict.fromkeys(RECYCLING_KEYS, 0)
    errors = service_settings.settings_errors(
        [service(**settings, environment={variable: "100"})], HOST
    )
    assert len(errors) == 1
    assert_named(errors, f".environment.{variable} is not allowed", f"service's {key} key")


VALUES_TRIED = {
    "prometheus servers' variables": len(SD_DIRS) ** 2,
    "worker recycling": len(RECYCLING_KEYS) * (len(NON_NEGATIVE) + len(NOT_NON_NEGATIVE) + 1),
}


def test_each_class_is_tried_over_many_values():
    assert_each_class_tried_over_many_values(VALUES_TRIED)
