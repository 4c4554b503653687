"""Preflight's check of metrics paths: shadowing no route of the app (that it is a URL path of its
own, not '/', is the settings table's rule: sanic_service_settings.py)."""

import re

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    quoted,
    service_label,
)


def _route_pattern(route: str) -> re.Pattern:
    """A Sanic route as a regular expression: <name> and <name:type> match one path segment,
    <name:path> the rest; a trailing slash is optional (Sanic's default, strict_slashes off)."""
    parts = re.split(r"(<[^>]*>)", route.rstrip("/") or "/")
    regex = "".join(
        (".+" if part.endswith(":path>") else "[^/]+") if part.startswith("<") else re.escape(part)
        for part in parts
    )
    return re.compile(f"{regex}/?")


def metrics_path_errors(
    services: list[dict], host: str, app_routes: dict | None = None
) -> list[str]:
    """A metrics path matches no route of the app (`app_routes`: service name -> the route paths
    found in its app_source)."""
    errors = []
    for service in services:
        path = str(service["metrics_path"])
        shadowed = [
            route
            for route in (app_routes or {}).get(service["name"], [])
            if _route_pattern(str(route)).fullmatch(path)
        ]
        if shadowed:
            errors.append(
                f"{host}: {service_label(service)}.metrics_path = {quoted(path)} is not allowed:"
                f" it would shadow the app's route {', '.join(map(quoted, shadowed))} (found in"
                f" {service.get('app_source')}); use a path the app does not serve"
            )
    return errors
