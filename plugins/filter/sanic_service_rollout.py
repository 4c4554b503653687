"""Which app hosts go through the batched, health-gated deploy: those where a service would
restart or is not running as installed (tasks/plan.yml reads the host; this says why)."""

# The fields of a revision (tasks/revisions.yml), in order; HTTPS services carry the certificate's.
REVISION_FIELDS = ("app", "virtualenv", "unit", "socket unit")
HTTPS_REVISION_FIELDS = ("app", "virtualenv", "certificate and key", "unit", "socket unit")


def revision_changes(installed: str, started: str) -> list[str]:
    """The parts of a service's installed revision that differ from the one it started with."""
    installed_fields, started_fields = installed.split(" "), started.split(" ")
    names = HTTPS_REVISION_FIELDS if len(installed_fields) == 5 else REVISION_FIELDS
    if not started:
        return ["never started by this role"]
    if len(started_fields) != len(installed_fields):
        return ["started with a revision of another shape"]
    return [
        name
        for name, now, then in zip(names, installed_fields, started_fields, strict=True)
        if now != then
    ]


def rollout_reasons(
    services: list[dict],
    revisions: dict,
    settled_files: list[str],
    host_reads: list[str],
    rollback_run: bool,
) -> list[str]:
    """Why the host needs the batched deploy, one line per reason; none when a run would restart
    nothing there. `revisions` is revisions.yml's `sanic_service_revisions`, `settled_files` the
    paths plan.yml found as a deploy writes them (sanic_service_files_settled), and `host_reads`
    the lines plan.yml's read of links, units and removals printed."""
    reasons = ["a rollback run restarts every service it rolls back"] if rollback_run else []
    reasons += host_reads
    reasons += [
        f"{service['name']}: certificate or key to install"
        for service in services
        if service["scheme"] == "https"
        and not {service["host_tls_cert"], service["host_tls_key"]} <= set(settled_files)
    ]
    for service in services:
        revision = revisions[service["name"]]
        if not revision["listening"]:
            reasons.append(f"{service['name']}: its socket unit does not listen")
        elif revision["installed"] != revision["started"]:
            changed = ", ".join(revision_changes(revision["installed"], revision["started"]))
            reasons.append(f"{service['name']}: would restart ({changed})")
    return reasons


class FilterModule:
    def filters(self):
        return {
            "sanic_service_rollout_reasons": rollout_reasons,
        }
