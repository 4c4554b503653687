"""Preflight's checks of the metrics directories: each service's own, on a tmpfs with room for
all its workers' files, and a removed service's below a tmpfs mount (removal deletes it). That a
directory is absolute and not / is the settings table's rule (sanic_service_settings.py); the
filesystems are preflight's read of the host (files/host_reads.py)."""

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    quoted,
    service_label,
)

# What a service's workers may write, as its message names the role variable.
NEED = "(workers + 1) x sanic_service_multiproc_bytes_per_worker"


def shared_dir_errors(services: list[dict], host: str) -> list[str]:
    """No two services share a metrics directory, nor does one hold another's: every start of a
    service empties its directory."""
    errors = []
    for service in services:
        directory = service["multiproc_dir"]
        others = [other["multiproc_dir"] for other in services if other is not service]
        if directory in others or any(other.startswith(f"{directory}/") for other in others):
            errors.append(
                f"{host}: {service_label(service)}.multiproc_dir = {quoted(directory)} is shared"
                " with or contains another service's directory; allowed: a directory of its own,"
                " since every start of the service empties it"
            )
    return errors


def mount_request(services: list[dict], bytes_per_worker: int) -> list[list]:
    """What host_reads.py measures for the services: [DIR, BYTES] each, BYTES what its workers
    (and the main process) may write there."""
    return [
        [service["multiproc_dir"], (int(service["workers"]) + 1) * int(bytes_per_worker)]
        for service in services
    ]


def mount_errors(
    services: list[dict], mounts: list[dict], host: str, bytes_per_worker: int
) -> list[str]:
    """Each metrics directory is a subdirectory (not the mount point) of a tmpfs with room for
    the workers of every service on that mount."""
    errors = []
    for service, mount in zip(services, mounts, strict=True):
        if (
            mount["fstype"] != "tmpfs"
            or mount["dir"] == mount["mount_point"]
            or mount["available_bytes"] < mount["needed_bytes_on_mount"]
        ):
            errors.append(
                f"{host}: {service_label(service)}.multiproc_dir = {quoted(mount['dir'])}"
                f" is on {mount['fstype']} mounted at {mount['mount_point']} with"
                f" {mount['available_bytes']} bytes free; allowed: a subdirectory (not the mount"
                f" point) of a tmpfs with at least {mount['needed_bytes_on_mount']} bytes free,"
                f" i.e. {NEED} ({bytes_per_worker}) summed over the services on that mount"
            )
    return errors


def removal_mount_errors(removals: list[dict], mounts: list[dict], host: str) -> list[str]:
    """Removal deletes a removed service's metrics directory: it must be one of the tmpfs
    directories the role creates, never a mount point or a directory on disk."""
    return [
        f"{host}: {service_label(removal)}.multiproc_dir = {quoted(mount['dir'])} (state: absent)"
        f" is on {mount['fstype']} mounted at {mount['mount_point']}, and removal deletes it;"
        " allowed: the removed service's own directory below a tmpfs mount (default"
        f" /dev/shm/prom_{removal['name']})"
        for removal, mount in zip(removals, mounts, strict=True)
        if mount["fstype"] != "tmpfs" or mount["dir"] == mount["mount_point"]
    ]
