"""Preflight's check of the accounts the services run as: valid names, none privileged or shared."""

import re

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.messages import (
    quoted,
    service_label,
)

# Debian's base-passwd accounts (ids 0-99, and nobody/nogroup): root, or shared by other programs
# and by files (disk, shadow, adm, www-data...), so a service running as one gets their rights.
BASE_PASSWD_USERS = (
    "root daemon bin sys sync games man lp mail news uucp proxy www-data backup list irc"
    " gnats nobody"
)
BASE_PASSWD_GROUPS = (
    "root daemon bin sys adm tty disk lp mail news uucp man proxy kmem dialout fax voice cdrom"
    " floppy tape sudo audio dip www-data backup operator list irc src gnats shadow utmp video"
    " sasl plugdev staff games users nogroup"
)
PRIVILEGED_USERS = frozenset(BASE_PASSWD_USERS.split())
PRIVILEGED_GROUPS = frozenset(BASE_PASSWD_GROUPS.split())
# The ids base-passwd allocates statically; 65534 is nobody/nogroup.
PRIVILEGED_IDS = frozenset([*range(100), 65534])
ACCOUNT_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def _host_id(entries: dict, name: str) -> int | None:
    """The uid (getent passwd) or gid (getent group) of an account on the host, None if absent."""
    entry = entries.get(name)
    try:
        return int(entry[1]) if entry else None
    except (TypeError, ValueError, IndexError):
        return None


def identity_errors(
    services: list[dict], host: str, passwd: dict | None = None, groups: dict | None = None
) -> list[str]:
    """User and group: valid names, and no privileged account unless the service opts in.

    `passwd` and `groups` are the host's accounts as getent reads them ({name: [x, id, ...]}):
    an existing account is privileged by its id too (another name for uid 0 is root)."""
    errors = []
    for service in services:
        user, group = str(service["user"]), str(service["group"])
        if not (ACCOUNT_NAME.match(user) and ACCOUNT_NAME.match(group)):
            errors.append(
                f"{host}: {service_label(service)}.user/group = {quoted(user)}/{quoted(group)}"
                " is not allowed; use a lowercase name of 1-32 characters (a-z, 0-9, _, -)"
                " starting with a letter or _ (they default to the service name)"
            )
            continue
        if service.get("allow_privileged_user") is True:
            continue
        for key, name, names, entries, kind in (
            ("user", user, PRIVILEGED_USERS, passwd or {}, "uid"),
            ("group", group, PRIVILEGED_GROUPS, groups or {}, "gid"),
        ):
            found = _host_id(entries, name)
            if name in names or found in PRIVILEGED_IDS:
                where = f" ({kind} {found} on the host)" if found is not None else ""
                errors.append(
                    f"{host}: {service_label(service)}.{key} = {quoted(name)}{where} is a"
                    " privileged or shared system account; allowed: an account of the service's"
                    f" own (not root, not a {kind} 0-99 or 65534 such as daemon, www-data or"
                    " nobody), or set allow_privileged_user: true on the service"
                    " (sanic_service_allow_privileged_user: true for every service)"
                )
    return errors
