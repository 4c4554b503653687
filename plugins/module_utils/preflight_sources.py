"""Preflight's checks of what each service ships from the control node: its app source directory,
its requirements file, and a metrics path that shadows no route the app declares there."""

from pathlib import Path

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils import (
    preflight_metrics_path as metrics_path,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.app_routes import (
    routes_of,
)
from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    quoted,
    service_label,
)


def source_errors(services: list[dict], host: str) -> list[str]:
    """Each app source is a directory on the control node, with the requirements file it names;
    then no metrics path shadows a route of its app."""
    errors = []
    for service in services:
        source = Path(service["app_source"])
        if not source.is_dir():
            errors.append(
                f"{host}: {service_label(service)}.app_source = {quoted(service['app_source'])}"
                " is not a directory on the control node; allowed: the absolute path of the app's"
                " source directory"
            )
        elif service["requirements_file"] and not (source / service["requirements_file"]).is_file():
            errors.append(
                f"{host}: {service_label(service)}.requirements_file ="
                f" {quoted(service['requirements_file'])} is not a file in"
                f" {service['app_source']}; allowed: a path relative to app_source, or '' for none"
            )
    if errors:
        return errors
    routes = {service["name"]: routes_of(Path(service["app_source"])) for service in services}
    return metrics_path.metrics_path_errors(services, host, routes)
