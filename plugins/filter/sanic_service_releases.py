"""Release and rollback arithmetic, and which of the control node's cached builds go.

A release is "app-<digest> venv-<digest>", one line of the host's `releases` file per release
that passed the health gate, the running one last.
"""

from pathlib import Path


def release_of(service: dict) -> str:
    return f"{service['app_version']} {service['venv_version']}"


def releases_kept(history: list[str], current: str, keep: int) -> list[str]:
    """The releases file after `current` passed the gate: each release once, `current` last,
    and at most `keep` releases before it."""
    earlier = [line for line in dict.fromkeys(map(str.strip, history)) if line and line != current]
    keep = max(int(keep), 0)
    return [*(earlier[max(len(earlier) - keep, 0) :] if keep else []), current]


def releases_kept_on_host(service: dict, reads: dict) -> list[str]:
    """releases_kept for a service that passed its gate, from its releases file as
    files/read_plan.py's "releases" read it (`reads`: service name -> {"releases": lines}), less
    the release a rollback left (`rolled_back_from`)."""
    left = service.get("rolled_back_from") or ""
    history = [line for line in reads[service["name"]]["releases"] if line != left]
    return releases_kept(history, release_of(service), service["keep_releases"])


def releases_kept_by_service(services: list[dict], reads: dict) -> dict:
    """Each service's name -> releases_kept_on_host: the releases file cleanup.yml records."""
    return {service["name"]: releases_kept_on_host(service, reads) for service in services}


def release_read_request(services: list[dict], releases_file: str) -> dict:
    """files/read_plan.py's "releases" request for the services."""
    return {
        "releases_file": releases_file,
        "services": [[service["name"], service["install_dir"]] for service in services],
    }


def cleanup_work(services: list[dict], reads: dict) -> list[str]:
    """What cleanup.yml would change after a gate all services passed, read_plan.py's "releases"
    (`reads`) given: one line per releases file to record and per version directory to remove."""
    kept = releases_kept_by_service(services, reads)
    lines = [
        f"{service['name']}: its releases file to record"
        for service in services
        if kept[service["name"]] != reads[service["name"]]["releases"]
    ]
    versions = [path for read in reads.values() for path in read["versions"]]
    return lines + [f"{path} to remove" for path in versions_to_prune(versions, services, kept)]


def versions_to_prune(paths: list[str], services: list[dict], kept: dict) -> list[str]:
    """Of the version directories found in the services' install directories (`paths`), those to
    remove: every app-, venv- and wheels- directory no release kept for its service (`kept`:
    service name -> its releases file) names. Unpacked wheelhouses all go: a kept virtualenv is
    complete without its wheels."""
    owners = {service["install_dir"]: service["name"] for service in services}
    to_prune = []
    for path in map(Path, paths):
        owner = owners.get(str(path.parent))
        if owner is None or not path.name.startswith(("app-", "venv-", "wheels-")):
            continue
        if path.name not in {word for release in kept[owner] for word in release.split()}:
            to_prune.append(str(path))
    return sorted(to_prune)


def rollback_release(history: list[str], current: str) -> str | None:
    """The release a rollback returns to: the one before `current` in the releases file (the
    last one when `current` is not in it, i.e. never passed the gate), None if there is none."""
    lines = [line for line in map(str.strip, history) if line]
    earlier = lines[: lines.index(current)] if current in lines else lines
    return earlier[-1] if earlier else None


def rollback_plan(entry) -> dict:
    """A service to roll back, from (service, stat of its `app` link, stat of its `venv` link,
    `cat` of its releases file): with app_version and venv_version set to the release it goes
    back to ("" when there is none), the release it leaves, and the file's lines."""
    service, app_link, venv_link, releases = entry
    running = " ".join(
        str(link.get("stat", {}).get("lnk_target") or "") for link in (app_link, venv_link)
    ).strip()
    history = list(releases.get("stdout_lines") or []) if releases.get("rc") == 0 else []
    target = rollback_release(history, running)
    app_version, venv_version = target.split() if target else ("", "")
    return {
        **service,
        "app_version": app_version,
        "venv_version": venv_version,
        "rolled_back_from": running,
        "history": history,
    }


# --- the control node's cache ---------------------------------------------------------------------
def cache_to_prune(files: list[dict], releases: list[str], spare: int) -> list[str]:
    """The cache files (find's results: path, mtime) to remove: app archives (`apps/<sha256>.tar`,
    release word `app-<its first 16 digits>`) and wheelhouses (`wheelhouse/<target>/<key>.tar`,
    `venv-<key>`) that no release held on a host names, except the `spare` most recently used of
    each kind."""
    held = {word for release in releases for word in str(release).split()}
    to_prune = []
    for kind in ("app", "venv"):
        unheld = []
        for entry in files:
            path = Path(entry["path"])
            is_app = path.parent.name == "apps"
            if is_app != (kind == "app") or path.suffix != ".tar":
                continue
            word = f"app-{path.stem[:16]}" if is_app else f"venv-{path.stem}"
            if word not in held:
                unheld.append(entry)
        unheld.sort(key=lambda entry: float(entry["mtime"]), reverse=True)
        to_prune += [entry["path"] for entry in unheld[max(int(spare), 0) :]]
    return sorted(to_prune)


class FilterModule:
    def filters(self):
        return {
            "sanic_service_release": release_of,
            "sanic_service_releases_kept_by_service": releases_kept_by_service,
            "sanic_service_release_read_request": release_read_request,
            "sanic_service_versions_to_prune": versions_to_prune,
            "sanic_service_rollback_release": rollback_release,
            "sanic_service_rollback_plan": rollback_plan,
            "sanic_service_cache_to_prune": cache_to_prune,
        }
