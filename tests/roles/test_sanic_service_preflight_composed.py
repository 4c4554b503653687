"""sanic_service preflight's two judgements (plugins/filter/sanic_service_preflight.py) and the
checks that were Jinja asserts before them: names used once, the extra environment, allowed
networks, shared metrics directories, app sources and requirements files, and the host's answers
(names it does not resolve, ports other programs hold, filesystems). Every refusal names the host,
the variable and what is allowed (preflight_cases.assert_named)."""

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_preflight as preflight,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
    sanic_service_resolver as resolver,
)

from .preflight_cases import HOST, assert_named

ROLE_DEFAULTS = {
    "bind_address": "",
    "workers": 2,
    "socket_backlog": 1024,
    "requirements_file": "",
    "metrics_path": "/metrics",
    "instrumentation": "wrapper",
    "environment": {},
    "install_root": "/opt/sanic-services",
    "allow_privileged_user": False,
    "max_requests": 0,
    "max_requests_jitter": 0,
    "max_rss_bytes": 0,
    "keep_releases": 2,
    "slos": [],
}
FACTORY = "app.server:create_app"


def resolved(*services, host_address="10.0.0.5"):
    return resolver.resolve_services(
        [{"factory": FACTORY, **service} for service in services],
        **ROLE_DEFAULTS,
        host_address=host_address,
        inventory_hostname=HOST,
    )


def errors(services, host_address="10.0.0.5", listeners=(), servers=("prom",), hostvars=None):
    return preflight.preflight_errors(
        services,
        HOST,
        host_address=host_address,
        listeners=list(listeners),
        prometheus_group="prometheus_servers",
        prometheus_servers=list(servers),
        hostvars={"prom": {"sanic_scrape_job_file_sd_dir": "/etc/sd"}}
        if hostvars is None
        else hostvars,
    )


@pytest.fixture
def app(tmp_path):
    (tmp_path / "app.py").write_text("@app.get('/boom')\nasync def boom(request): ...\n")
    (tmp_path / "requirements.txt").write_text("")
    return str(tmp_path)


def test_a_valid_host_passes_both_judgements(app):
    services = resolved({"name": "api", "app_source": app, "port": 8000})
    assert errors(services) == []
    reads = {
        "service_manager": "systemd",
        "unresolved": [],
        "port_holders": [{"port": 8000, "name": "api", "holders": []}],
        "passwd": {},
        "group": {},
        "mounts": [
            {
                "dir": "/dev/shm/prom_api",
                "mount_point": "/dev/shm",
                "fstype": "tmpfs",
                "available_bytes": 10**9,
                "needed_bytes_on_mount": 3 * 4194304,
            }
        ],
        "removal_mounts": [],
    }
    assert preflight.host_errors(services, reads, HOST, 4194304) == []


def test_the_settings_tables_refusals_come_alone(app):
    services = resolved(
        {"name": "api", "app_source": "/nonexistent", "port": 70000},
        {"name": "api", "app_source": app, "port": 8001},
    )
    found = errors(services)
    assert len(found) == 1 and ".port = 70000 is not allowed" in found[0]


def test_a_name_used_twice_is_refused_at_each_place(app):
    services = resolved(
        {"name": "api", "app_source": app, "port": 8000},
        {"name": "api", "app_source": app, "port": 8001},
    )
    found = [error for error in errors(services) if "is used by more than one service" in error]
    assert [error.split(".name")[0] for error in found] == [
        f"{HOST}: sanic_services[0]",
        f"{HOST}: sanic_services[1]",
    ]
    assert_named(found, '"api"')


@pytest.mark.parametrize(
    ("environment", "refused"),
    [
        ({"GOOD_NAME": "1"}, False),
        ({"_X9": "a b"}, False),
        ({"9BAD": "1"}, True),
        ({"BAD-NAME": "1"}, True),
        ({"GOOD": "two\nlines"}, True),
    ],
)
def test_the_extra_environment_needs_variable_names_and_single_lines(app, environment, refused):
    services = resolved(
        {"name": "api", "app_source": app, "port": 8000, "environment": environment}
    )
    found = [error for error in errors(services) if ".environment = " in error]
    assert bool(found) is refused
    if refused:
        assert_named(found, "sanic_services[name=api].environment")


@pytest.mark.parametrize(
    ("networks", "bind_address", "refused"),
    [
        ("127.0.0.0/8", "", False),
        ("10.0.0.0/8", "", True),
        ("10.0.0.0/8", "10.1.2.3", False),
        ("192.168.0.0/16,127.0.0.1/32", "", False),
    ],
)
def test_the_allowed_networks_must_admit_the_health_gate(app, networks, bind_address, refused):
    services = resolved(
        {
            "name": "api",
            "app_source": app,
            "port": 8000,
            "bind_address": bind_address,
            "environment": {"METRICS_ALLOWED_NETWORKS": networks},
        }
    )
    found = [error for error in errors(services) if "METRICS_ALLOWED_NETWORKS" in error]
    assert bool(found) is refused
    if refused:
        assert_named(found, f'"{networks}"', f"{services[0]['gate_address']}/32")


@pytest.mark.parametrize(
    ("first", "second", "refused"),
    [
        ("/dev/shm/prom_a", "/dev/shm/prom_b", False),
        ("/dev/shm/prom_a", "/dev/shm/prom_a", True),
        ("/dev/shm/prom", "/dev/shm/prom/b", True),
        ("/dev/shm/prom", "/dev/shm/prom_b", False),
    ],
)
def test_a_metrics_directory_is_a_services_own(app, first, second, refused):
    services = resolved(
        {"name": "a", "app_source": app, "port": 8000, "multiproc_dir": first},
        {"name": "b", "app_source": app, "port": 8001, "multiproc_dir": second},
    )
    found = [error for error in errors(services) if "is shared with or contains" in error]
    assert bool(found) is refused
    if refused:
        assert_named(found, ".multiproc_dir = ")
        # The directory that contains the other is refused; two equal ones are both.
        assert f'sanic_services[name=a].multiproc_dir = "{first}"' in found[0]


def test_an_app_source_that_is_no_directory_is_refused(app, tmp_path):
    services = resolved({"name": "api", "app_source": f"{app}/app.py", "port": 8000})
    assert_named(errors(services), "app_source", "is not a directory on the control node")


@pytest.mark.parametrize(
    ("requirements", "refused"), [("requirements.txt", False), ("no.txt", True)]
)
def test_a_requirements_file_must_be_in_the_app_source(app, requirements, refused):
    services = resolved(
        {"name": "api", "app_source": app, "port": 8000, "requirements_file": requirements}
    )
    found = errors(services)
    assert bool(found) is refused
    if refused:
        assert_named(found, f'requirements_file = "{requirements}"', app)


@pytest.mark.parametrize(("path", "refused"), [("/metrics", False), ("/boom", True)])
def test_a_metrics_path_shadowing_a_route_in_the_source_is_refused(app, path, refused):
    services = resolved({"name": "api", "app_source": app, "port": 8000, "metrics_path": path})
    assert bool(errors(services)) is refused


def test_the_host_read_request_names_what_to_read(app):
    services = resolved(
        {"name": "api", "app_source": app, "port": 8000, "workers": 3},
        {"name": "old", "state": "absent"},
        host_address="app-1.example.net",
    )
    request = preflight.host_read_request(
        services,
        host_address="app-1.example.net",
        bytes_per_worker=100,
        accounts_record="/var/lib/record.json",
        packages=["python3-venv"],
    )
    assert request == {
        "ports": [[8000, "api"]],
        "removed": ["old"],
        "mounts": [["/dev/shm/prom_api", 400]],
        "removal_mounts": ["/dev/shm/prom_old"],
        "host_names": ["app-1.example.net"],
        "accounts_record": "/var/lib/record.json",
        "packages": ["python3-venv"],
    }


def test_every_refusal_of_the_hosts_answers_is_reported_at_once(app):
    services = resolved(
        {"name": "api", "app_source": app, "port": 8000, "user": "root"},
        {"name": "old", "state": "absent", "multiproc_dir": "/var/lib/old"},
    )
    reads = {
        "service_manager": "init",
        "unresolved": ["app-1.example.net"],
        "port_holders": [
            {"port": 8000, "name": "api", "holders": ["nginx (pid 7, nginx.service)"]}
        ],
        "passwd": {"root": ["x", "0", "0", "root", "/root", "/bin/bash"]},
        "group": {},
        "mounts": [
            {
                "dir": "/dev/shm/prom_api",
                "mount_point": "/dev/shm",
                "fstype": "tmpfs",
                "available_bytes": 10,
                "needed_bytes_on_mount": 300,
            }
        ],
        "removal_mounts": [
            {"dir": "/var/lib/old", "mount_point": "/", "fstype": "ext4", "available_bytes": 1}
        ],
    }
    found = preflight.host_errors(services, reads, HOST, 100)
    assert_named(found)
    wanted = [
        "the service manager is init; use a host that runs systemd as PID 1",
        'ansible_host (else the inventory name) = "app-1.example.net" does not resolve',
        "sanic_services[name=api].port = 8000 is already held on the host by nginx (pid 7",
        'sanic_services[name=api].user = "root" (uid 0 on the host) is a privileged',
        'sanic_services[name=api].multiproc_dir = "/dev/shm/prom_api" is on tmpfs mounted at'
        " /dev/shm with 10 bytes free",
        'sanic_services[name=old].multiproc_dir = "/var/lib/old" (state: absent) is on ext4',
    ]
    assert len(found) == len(wanted)
    for message, words in zip(found, wanted, strict=True):
        assert words in message
