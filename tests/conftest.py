"""Fixtures shared by the tests of the roles."""

import copy
import importlib.util
import inspect
from pathlib import Path

import pytest
import yaml

SANIC_SERVICE_ROLE = Path(__file__).resolve().parents[1] / "roles" / "sanic_service"


@pytest.fixture(scope="session")
def resolve_services():
    """sanic_service's resolver (filter_plugins/sanic_service.py) with each role-wide keyword at
    the role's default (defaults/main.yml) unless the test gives it: a test names only what it
    sets, and a keyword the resolver gains needs no edit here."""
    spec = importlib.util.spec_from_file_location(
        "sanic_service_filters_shared", SANIC_SERVICE_ROLE / "filter_plugins" / "sanic_service.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    defaults = yaml.safe_load((SANIC_SERVICE_ROLE / "defaults" / "main.yml").read_text())
    role_keywords = {
        name: defaults[f"sanic_service_{name}"]
        for name, parameter in inspect.signature(module.resolve_services).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and f"sanic_service_{name}" in defaults
    }

    def resolve(services: list[dict], **keywords) -> list[dict]:
        # A copy each call: a default changed in place must not leak into the next test.
        return module.resolve_services(services, **{**copy.deepcopy(role_keywords), **keywords})

    return resolve
