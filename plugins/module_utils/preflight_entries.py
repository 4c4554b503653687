"""Preflight's checks of the host's list of services as a whole, and of the keys the settings table
does not describe: each name used once, the extra environment's names and values."""

import json
import re

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    quoted,
)

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def name_errors(services: list[dict], host: str) -> list[str]:
    """Each service name is used once on the host, by a service kept or removed."""
    names = [service["name"] for service in services]
    return [
        f"{host}: sanic_services[{index}].name = {quoted(name)} is used by more than one service;"
        " each service needs its own name"
        for index, name in enumerate(names)
        if names.count(name) > 1
    ]


def environment_errors(services: list[dict], host: str) -> list[str]:
    """The extra environment each unit passes: variable names, single-line values."""
    errors = []
    for service in services:
        environment = service["environment"]
        if any(not VARIABLE_NAME.fullmatch(str(name)) for name in environment) or any(
            "\n" in str(value) for value in environment.values()
        ):
            errors.append(
                f"{host}: sanic_services[name={service['name']}].environment ="
                f" {json.dumps(environment)} is not allowed; use names of letters, digits and _,"
                " and single-line values"
            )
    return errors
