"""Builds once per distinct input (plugins/filter/sanic_service_builds.py): which wheelhouses and
app archives build.yml builds for a play batch, and which of them each host's services take."""

import pytest
from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import sanic_service_builds

BOOKWORM = {"python": "3.11", "glibc": "2.36", "arch": "x86_64"}
TRIXIE = {"python": "3.13", "glibc": "2.41", "arch": "x86_64"}
INSTRUMENTATION = "/roles/sanic_service/files/app_instrumentation"


def service(name: str, app_source: str = "/apps/demo", requirements: str = "requirements.txt"):
    return {"name": name, "app_source": app_source, "requirements_file": requirements}


def inputs(services, platform):
    return sanic_service_builds.build_inputs(services, platform, INSTRUMENTATION)


def built_path(wheelhouse: dict) -> str:
    """What build_wheelhouse.sh would print: a path that differs for every input."""
    name = "-".join(str(value).replace("/", "_") for value in wheelhouse.values())
    return f"/cache/wheelhouse/{name}.tar"


def results(needed: dict) -> tuple[list, list]:
    wheelhouses = [{"item": item, "stdout": built_path(item)} for item in needed["wheelhouses"]]
    archives = [
        {
            "item": source,
            "stdout": f"/cache/apps/{source.strip('/').replace('/', '_')}0123456789.tar",
        }
        for source in needed["app_sources"]
    ]
    return wheelhouses, archives


def test_hosts_of_one_kind_running_one_app_need_one_wheelhouse_and_one_archive():
    hosts = [inputs([service("scale")], BOOKWORM) for _ in range(16)]
    needed = sanic_service_builds.builds_needed(hosts)
    assert needed["app_sources"] == ["/apps/demo"]
    assert needed["wheelhouses"] == [
        {
            **BOOKWORM,
            "instrumentation_source": INSTRUMENTATION,
            "requirements": "/apps/demo/requirements.txt",
        }
    ]


def test_platform_requirements_and_app_source_each_make_another_build():
    bookworm = inputs([service("a"), service("b", "/apps/other", "")], BOOKWORM)
    trixie = inputs([service("a"), service("c", "/apps/demo", "")], TRIXIE)
    needed = sanic_service_builds.builds_needed([bookworm, trixie])
    assert [(w["python"], w["requirements"]) for w in needed["wheelhouses"]] == [
        ("3.11", "/apps/demo/requirements.txt"),
        ("3.11", ""),
        ("3.13", "/apps/demo/requirements.txt"),
        ("3.13", ""),
    ]
    assert needed["app_sources"] == ["/apps/demo", "/apps/other"]


def test_each_service_takes_the_outputs_of_its_own_inputs_and_the_versions_named_by_them():
    bookworm_services = [service("a"), service("b", "/apps/other", "")]
    bookworm = inputs(bookworm_services, BOOKWORM)
    trixie = inputs([service("a")], TRIXIE)
    wheelhouses, archives = results(sanic_service_builds.builds_needed([trixie, bookworm]))

    built = sanic_service_builds.with_builds(bookworm_services, bookworm, wheelhouses, archives)

    a, b = built
    assert a["wheelhouse"] == built_path(bookworm[0]["wheelhouse"])
    assert b["wheelhouse"] == built_path(bookworm[1]["wheelhouse"])
    assert a["wheelhouse"] != b["wheelhouse"]
    assert a["app_archive"] == "/cache/apps/apps_demo0123456789.tar"
    assert b["app_archive"] == "/cache/apps/apps_other0123456789.tar"
    # The names install.yml unpacks into: the first 16 characters of the archive's name, the
    # wheelhouse's name without .tar.
    assert a["app_version"] == "app-apps_demo0123456"
    wheelhouse_name = built_path(bookworm[0]["wheelhouse"]).removeprefix("/cache/wheelhouse/")
    assert a["venv_version"] == "venv-" + wheelhouse_name.removesuffix(".tar")
    assert a["wheels_dir"] == "wheels-" + a["venv_version"].removeprefix("venv-")
    assert {key: a[key] for key in bookworm_services[0]} == bookworm_services[0]


def test_a_service_whose_inputs_were_not_built_is_an_error_naming_it():
    own = inputs([service("late")], TRIXIE)
    wheelhouses, archives = results(
        sanic_service_builds.builds_needed([inputs([service("late")], BOOKWORM)])
    )
    with pytest.raises(ValueError, match="service late: no build of its inputs"):
        sanic_service_builds.with_builds([service("late")], own, wheelhouses, archives)
