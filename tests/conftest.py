"""Fixtures shared by the tests of the roles, and the collection path every Ansible run of the
tests uses."""

import copy
import inspect
import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SANIC_SERVICE_ROLE = REPO / "roles" / "sanic_service"
# The checkout as the collection sanic_prometheus.multiprocess (scripts/setup.sh makes the link).
COLLECTIONS_PATH = REPO / ".cache" / "collections"


def pytest_configure(config):
    """The tests import the collection's plugins (pytest.ini's pythonpath), and their
    ansible-playbook runs find it, as ansible/ansible.cfg and Molecule do."""
    link = COLLECTIONS_PATH / "ansible_collections" / "sanic_prometheus" / "multiprocess"
    if not (link / "galaxy.yml").is_file():
        raise pytest.UsageError(
            f"{link} does not lead to this checkout: run scripts/setup.sh, which links it there"
        )
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = os.pathsep.join(
        filter(None, [str(COLLECTIONS_PATH), os.environ.get("ANSIBLE_COLLECTIONS_PATH")])
    )


@pytest.fixture(scope="session")
def resolve_services():
    """sanic_service's resolver (plugins/filter/sanic_service_resolver.py) with each role-wide
    keyword at the role's default (defaults/main.yml) unless the test gives it: a test names only
    what it sets, and a keyword the resolver gains needs no edit here."""
    # Imported here, not with the module: conftest loads before pytest_configure checks the link.
    from ansible_collections.sanic_prometheus.multiprocess.plugins.filter import (
        sanic_service_resolver,
    )

    resolve_with = sanic_service_resolver.resolve_services
    defaults = yaml.safe_load((SANIC_SERVICE_ROLE / "defaults" / "main.yml").read_text())
    role_keywords = {
        name: defaults[f"sanic_service_{name}"]
        for name, parameter in inspect.signature(resolve_with).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and f"sanic_service_{name}" in defaults
    }

    def resolve(services: list[dict], **keywords) -> list[dict]:
        # A copy each call: a default changed in place must not leak into the next test.
        return resolve_with(services, **{**copy.deepcopy(role_keywords), **keywords})

    return resolve
