"""A service marked `state: absent`: which accounts go with it, and what its removal may not
touch."""

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    quoted,
    service_label,
)


def accounts_to_remove(
    removals: list[dict], services: list[dict], created: dict, passwd: dict, groups: dict
) -> dict:
    """The users and groups of removed services that the role created (`created`, the host's
    record: {"users": [...], "groups": [...]}) and that nothing else uses: no service kept on the
    host runs as them, and no account left on the host has the group as its primary group or is
    a member of it. `passwd` and `groups` are the host's accounts as getent reads them."""
    users = sorted(
        {service["user"] for service in removals}
        & set(created.get("users") or []) - {service["user"] for service in services}
    )
    remaining = {name: entry for name, entry in passwd.items() if name not in users}
    primary_gids = {str(entry[2]) for entry in remaining.values() if len(entry) > 2}
    removable_groups = []
    for group in sorted(
        {service["group"] for service in removals}
        & set(created.get("groups") or []) - {service["group"] for service in services}
    ):
        entry = groups.get(group) or []
        gid = str(entry[1]) if len(entry) > 1 else None
        members = set(filter(None, str(entry[2]).split(","))) if len(entry) > 2 else set()
        if gid not in primary_gids and not members & set(remaining):
            removable_groups.append(group)
    return {"users": users, "groups": removable_groups}


def removal_errors(removals: list[dict], host: str, services: list[dict]) -> list[str]:
    """A service marked absent may not name the metrics directory of a service kept on the host,
    nor one inside or around it: removing it deletes that directory."""
    errors = []
    for removal in removals:
        gone = str(removal["multiproc_dir"]).rstrip("/")
        for service in services:
            kept = str(service["multiproc_dir"]).rstrip("/")
            if gone == kept or kept.startswith(gone + "/") or gone.startswith(kept + "/"):
                errors.append(
                    f"{host}: {service_label(removal)}.multiproc_dir ="
                    f" {quoted(removal['multiproc_dir'])} (state: absent) would delete the metrics"
                    f" directory {quoted(kept)} of {service_label(service)}; allowed: the directory"
                    " the removed service had, set only where it was not the default"
                    " /dev/shm/prom_<name>"
                )
    return errors


class FilterModule:
    def filters(self):
        return {
            "sanic_service_accounts_to_remove": accounts_to_remove,
        }
