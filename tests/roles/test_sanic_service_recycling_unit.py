"""The recycling keys reach the service's unit: the role's resolve.yml and its unit template, run
by ansible-playbook on this machine, write each service's settings as the environment its main
process reads (role-wide defaults, overridden per service)."""


def service(name, port, **keys):
    return {"name": name, "factory": "app:create", "app_source": "/src", "port": port, **keys}


def test_each_unit_carries_its_services_recycling_settings(
    tmp_path, render_units, unit_environment
):
    variables = {
        "sanic_service_max_requests": 5000,
        "sanic_service_max_requests_jitter": 500,
        "sanic_services": [
            service("shop", 10010),
            service("reports", 10011, max_requests=0, max_rss_bytes=268435456),
        ],
    }

    result = render_units(tmp_path, variables, "resolve")

    assert result.returncode == 0, result.stdout + result.stderr
    recycling = {
        unit: {
            key: value
            for key, value in unit_environment(tmp_path / unit).items()
            if key.startswith("SANIC_WORKER_")
        }
        for unit in ("sanic-shop.service", "sanic-reports.service")
    }
    assert recycling == {
        "sanic-shop.service": {
            "SANIC_WORKER_MAX_REQUESTS": "5000",
            "SANIC_WORKER_MAX_REQUESTS_JITTER": "500",
            "SANIC_WORKER_MAX_RSS_BYTES": "0",
        },
        "sanic-reports.service": {
            "SANIC_WORKER_MAX_REQUESTS": "0",
            "SANIC_WORKER_MAX_REQUESTS_JITTER": "500",
            "SANIC_WORKER_MAX_RSS_BYTES": "268435456",
        },
    }


def test_the_argument_spec_refuses_a_recycling_setting_that_is_no_integer(tmp_path, render_units):
    variables = {"sanic_services": [service("shop", 10010, max_rss_bytes="512M")]}

    result = render_units(tmp_path, variables, "resolve")

    assert result.returncode != 0
    assert "argument 'max_rss_bytes' is of type str found in 'sanic_services'" in result.stdout
    assert """"'512M'" cannot be converted to an int""" in result.stdout
    assert not (tmp_path / "sanic-shop.service").exists()
