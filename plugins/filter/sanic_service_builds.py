"""What the control node builds for the app hosts, once per distinct input, not once per host.

A wheelhouse depends on the host's platform (CPython, glibc, CPU), the instrumentation source and
the service's requirements file; an app archive on the app source alone. Hosts of one kind that
run the same app share both: build.yml builds each distinct one once for every app host of the
play batch, and each host then takes the outputs of its own inputs.
"""

import posixpath


def wheelhouse_input(service: dict, platform: dict, instrumentation_source: str) -> dict:
    """The arguments of files/build_wheelhouse.sh (after the pip and cache paths) for `service`."""
    requirements = service["requirements_file"]
    return {
        "python": platform["python"],
        "glibc": platform["glibc"],
        "arch": platform["arch"],
        "instrumentation_source": instrumentation_source,
        "requirements": f"{service['app_source']}/{requirements}" if requirements else "",
    }


def build_inputs(services: list[dict], platform: dict, instrumentation_source: str) -> list[dict]:
    """Each service's build inputs on a host: its name, app source and wheelhouse input."""
    return [
        {
            "name": service["name"],
            "app_source": service["app_source"],
            "wheelhouse": wheelhouse_input(service, platform, instrumentation_source),
        }
        for service in services
    ]


def builds_needed(inputs_by_host: list[list[dict]]) -> dict:
    """The distinct wheelhouses and app sources of all hosts' build inputs, first seen first."""
    wheelhouses, app_sources = [], []
    for inputs in inputs_by_host:
        for service in inputs:
            if service["wheelhouse"] not in wheelhouses:
                wheelhouses.append(service["wheelhouse"])
            if service["app_source"] not in app_sources:
                app_sources.append(service["app_source"])
    return {"wheelhouses": wheelhouses, "app_sources": app_sources}


def with_builds(
    services: list[dict], inputs: list[dict], wheelhouse_results: list, archive_results: list
) -> list[dict]:
    """`services` with the outputs of their own inputs (`inputs`, from build_inputs): the app
    archive and wheelhouse paths and the version names a deploy derives from them. The results
    are the build tasks' loop results (`item` the input, `stdout` the path built)."""
    wheelhouse_of = {_key(result["item"]): result["stdout"] for result in wheelhouse_results}
    archive_of = {result["item"]: result["stdout"] for result in archive_results}
    built = []
    for service, own in zip(services, inputs, strict=True):
        wheelhouse = wheelhouse_of.get(_key(own["wheelhouse"]))
        archive = archive_of.get(own["app_source"])
        if wheelhouse is None or archive is None:
            raise ValueError(
                f"service {service['name']}: no build of its inputs in this play batch's builds"
                f" ({own}); build.yml builds for the hosts in ansible_play_batch"
            )
        digest = posixpath.splitext(posixpath.basename(wheelhouse))[0]
        built.append(
            {
                **service,
                "app_archive": archive,
                "app_version": f"app-{posixpath.basename(archive)[:16]}",
                "wheelhouse": wheelhouse,
                "venv_version": f"venv-{digest}",
                "wheels_dir": f"wheels-{digest}",
            }
        )
    return built


def _key(wheelhouse: dict) -> tuple:
    return tuple(sorted(wheelhouse.items()))


class FilterModule:
    def filters(self):
        return {
            "sanic_service_build_inputs": build_inputs,
            "sanic_service_builds_needed": builds_needed,
            "sanic_service_with_builds": with_builds,
        }
