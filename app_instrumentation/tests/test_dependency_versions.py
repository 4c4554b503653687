"""The installed Sanic and prometheus-client are versions pyproject.toml declares the package for.

The package overrides Sanic methods and uses private prometheus_client parts, so outside the
declared range it may fail in ways no other test names; pyproject.toml is the one source of the
range.
"""

import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def declared_requirements():
    with PYPROJECT.open("rb") as stream:
        dependencies = tomllib.load(stream)["project"]["dependencies"]
    return {
        requirement.name: requirement
        for requirement in map(Requirement, dependencies)
        if requirement.name in ("sanic", "prometheus-client")
    }


def test_sanic_and_prometheus_client_have_an_upper_bound():
    requirements = declared_requirements()

    assert sorted(requirements) == ["prometheus-client", "sanic"]
    for requirement in requirements.values():
        assert any(spec.operator == "<" for spec in requirement.specifier), (
            f"{PYPROJECT}: {requirement} has no upper bound"
        )


@pytest.mark.parametrize("package", ["sanic", "prometheus-client"])
def test_installed_version_is_within_the_declared_range(package):
    requirement = declared_requirements()[package]
    installed = version(package)

    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{package} {installed} is installed, but app_instrumentation supports {requirement} "
        f"({PYPROJECT}): install a version in that range, or test this one and widen the range"
    )
