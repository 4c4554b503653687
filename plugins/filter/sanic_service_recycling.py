"""Worker recycling: preflight's check of the three keys, and the environment the unit passes."""

import json
import re

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    service_label,
)

# Each key and the environment setting the unit passes it in; the service's main process reads it.
RECYCLING_ENVIRONMENT = {
    "max_requests": "SANIC_WORKER_MAX_REQUESTS",
    "max_requests_jitter": "SANIC_WORKER_MAX_REQUESTS_JITTER",
    "max_rss_bytes": "SANIC_WORKER_MAX_RSS_BYTES",
}


def _non_negative_integer(value) -> bool:
    """An integer >= 0, or its decimal digits as a string (how an inventory may write it);
    not a bool (Python counts True as 1), not a float."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and re.fullmatch(r"[0-9]+", value) is not None


def recycling_environment(service: dict) -> dict:
    """The environment settings of a service's recycling keys, as the unit writes them."""
    return {variable: int(service[key]) for key, variable in RECYCLING_ENVIRONMENT.items()}


def recycling_errors(services: list[dict], host: str) -> list[str]:
    """max_requests, max_requests_jitter and max_rss_bytes are integers >= 0 (0 turns each off),
    set through the keys, not through `environment`, so the unit holds one value for each."""
    errors = []
    for service in services:
        for key, variable in RECYCLING_ENVIRONMENT.items():
            value = service[key]
            if not _non_negative_integer(value):
                errors.append(
                    f"{host}: {service_label(service)}.{key} = {json.dumps(value)} is not allowed;"
                    f" use an integer >= 0, 0 for off (default sanic_service_{key})"
                )
            if variable in (service.get("environment") or {}):
                errors.append(
                    f"{host}: {service_label(service)}.environment.{variable} is not allowed; use"
                    f" the service's {key} key (or sanic_service_{key} for every service)"
                )
        # The service's main process refuses this at start (app_instrumentation/recycling.py):
        # refused here, it never reaches a host.
        jitter, limit = service["max_requests_jitter"], service["max_requests"]
        if (
            _non_negative_integer(jitter)
            and _non_negative_integer(limit)
            and int(jitter)
            and not int(limit)
        ):
            errors.append(
                f"{host}: {service_label(service)}.max_requests_jitter = {json.dumps(jitter)}"
                f" is not allowed without max_requests; set max_requests > 0, or jitter 0"
            )
    return errors


class FilterModule:
    def filters(self):
        return {
            "sanic_service_recycling_errors": recycling_errors,
            "sanic_service_recycling_environment": recycling_environment,
        }
