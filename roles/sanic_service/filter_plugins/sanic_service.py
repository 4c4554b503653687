"""The one place where a service's settings and derived names are computed.

`sanic_service_resolve` turns the inventory's `sanic_services` into the list every task, template,
Molecule verify play and docs test reads: each key an item leaves out takes its role default, and
every name derived from the service (unit, paths, user, the addresses the health gate and
Prometheus use) is added here and nowhere else.

The network filters read METRICS_ALLOWED_NETWORKS with app_instrumentation's own parser, loaded
from the source tree the role deploys, so preflight refuses exactly what the service would refuse.

The `*_errors` functions are preflight's checks, one per class of value (identities, addresses,
ports, metrics paths, the Prometheus servers' variables): each returns the list of messages, every
one naming the host, the variable and what is allowed, and preflight asserts the list is empty.
"""

import importlib.util
import ipaddress
import json
import re
from functools import cache
from pathlib import Path

# Bind addresses that mean "every local address": the gate scrapes them over IPv4 loopback, which
# a dual-stack "::" socket accepts too, and Prometheus reaches them at the host's own address.
ANY_ADDRESSES = frozenset({"0.0.0.0", "::", ""})
LOOPBACK = "127.0.0.1"


def url_host(address: str) -> str:
    """The address as written in a URL or a Prometheus target: IPv6 literals in brackets."""
    try:
        literal = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    return f"[{literal}]" if literal.version == 6 else str(literal)


def is_ip_literal(address: str) -> bool:
    """An IPv4 or IPv6 address, IPv6 with or without a pair of brackets."""
    text = str(address)
    bracketed = text.startswith("[") and text.endswith("]")
    try:
        literal = ipaddress.ip_address(text[1:-1] if bracketed else text)
    except ValueError:
        return False
    return literal.version == 6 or not bracketed


def listenable(address: str) -> bool:
    """True for what a socket unit can listen on: an IP literal (IPv6 with or without brackets),
    or "" for every address."""
    return address == "" or is_ip_literal(address)


def listen_stream(bind_address: str, port: int) -> str:
    """systemd's ListenStream= for the address: a bare port for "" listens on every address,
    IPv4 and IPv6 alike; "::" does too (the socket unit sets BindIPv6Only=both)."""
    return str(port) if bind_address == "" else f"{url_host(bind_address)}:{port}"


def resolve_services(
    services: list[dict],
    *,
    bind_address: str,
    workers: int,
    socket_backlog: int,
    requirements_file: str,
    metrics_path: str,
    instrumentation: str,
    environment: dict,
    install_root: str,
    allow_privileged_user: bool,
    max_requests: int,
    max_requests_jitter: int,
    max_rss_bytes: int,
    keep_releases: int,
    host_address: str,
    inventory_hostname: str,
) -> list[dict]:
    """Each service with its defaults filled in and every derived name added.

    The keyword arguments are the role variables `sanic_service_<keyword>` (tasks/resolve.yml
    passes them; the docs test reads this signature), plus the host's address and inventory name.
    """
    resolved = []
    for item in services:
        name = item["name"]
        if item.get("state", "present") == "absent":
            resolved.append(_removal(item, install_root))
            continue
        service = {
            "bind_address": bind_address,
            "workers": workers,
            "user": name,
            "group": name,
            "requirements_file": requirements_file,
            "multiproc_dir": f"/dev/shm/prom_{name}",
            "metrics_path": metrics_path,
            "instrumentation": instrumentation,
            "socket_backlog": socket_backlog,
            "allow_privileged_user": allow_privileged_user,
            "max_requests": max_requests,
            "max_requests_jitter": max_requests_jitter,
            "max_rss_bytes": max_rss_bytes,
            "tls_cert_file": "",
            "tls_key_file": "",
            "keep_releases": keep_releases,
            "state": "present",
            **item,
        }
        address = str(service["bind_address"])
        listens_everywhere = address in ANY_ADDRESSES
        tls_dir = f"{install_root}/{name}/tls"
        service.update(
            environment={**environment, **(item.get("environment") or {})},
            unit_name=f"sanic-{name}.service",
            unit_path=f"/etc/systemd/system/sanic-{name}.service",
            socket_name=f"sanic-{name}.socket",
            socket_path=f"/etc/systemd/system/sanic-{name}.socket",
            listen_stream=listen_stream(address, service["port"]),
            tmpfiles_path=f"/etc/tmpfiles.d/sanic-{name}.conf",
            install_dir=f"{install_root}/{name}",
            # With a certificate the service serves HTTPS (the health gate and Prometheus too).
            scheme="https" if service["tls_cert_file"] else "http",
            tls_dir=tls_dir,
            host_tls_cert=f"{tls_dir}/server.crt",
            host_tls_key=f"{tls_dir}/server.key",
            # The health gate scrapes from the host itself.
            gate_address=LOOPBACK if listens_everywhere else url_host(address),
            scrape_target="{}:{}".format(
                url_host(host_address if listens_everywhere else address), service["port"]
            ),
            scrape_instance=f"{inventory_hostname}:{service['port']}",
        )
        resolved.append(service)
    return resolved


def _removal(item: dict, install_root: str) -> dict:
    """A service marked `state: absent`: only the names of what the role installed for it. Its
    name is the one key it needs; user, group and multiproc_dir only where they were overridden."""
    name = item["name"]
    return {
        "name": name,
        "state": "absent",
        "user": item.get("user", name),
        "group": item.get("group", name),
        "multiproc_dir": item.get("multiproc_dir", f"/dev/shm/prom_{name}"),
        "unit_name": f"sanic-{name}.service",
        "unit_path": f"/etc/systemd/system/sanic-{name}.service",
        "socket_name": f"sanic-{name}.socket",
        "socket_path": f"/etc/systemd/system/sanic-{name}.socket",
        "tmpfiles_path": f"/etc/tmpfiles.d/sanic-{name}.conf",
        "install_dir": f"{install_root}/{name}",
    }


# --- releases kept for rollback -------------------------------------------------------------------
# A release is "app-<digest> venv-<digest>", one line of the host's `releases` file per release
# that passed the health gate, the running one last.
def release_of(service: dict) -> str:
    return f"{service['app_version']} {service['venv_version']}"


def releases_kept(history: list[str], current: str, keep: int) -> list[str]:
    """The releases file after `current` passed the gate: each release once, `current` last,
    and at most `keep` releases before it."""
    earlier = [line for line in dict.fromkeys(map(str.strip, history)) if line and line != current]
    keep = max(int(keep), 0)
    return [*(earlier[max(len(earlier) - keep, 0) :] if keep else []), current]


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


# --- removal --------------------------------------------------------------------------------------
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
                    f"{host}: {_label(removal)}.multiproc_dir = {_json(removal['multiproc_dir'])}"
                    f" (state: absent) would delete the metrics directory {_json(kept)} of"
                    f" {_label(service)}; allowed: the directory the removed service had, set"
                    " only where it was not the default /dev/shm/prom_<name>"
                )
    return errors


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


@cache
def _access_module(instrumentation_source: str):
    path = Path(instrumentation_source) / "src" / "app_instrumentation" / "access.py"
    spec = importlib.util.spec_from_file_location("sanic_service_deployed_access", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invalid_networks(networks: str, instrumentation_source: str) -> list[str]:
    """The comma-separated entries the service would refuse at start."""
    access = _access_module(instrumentation_source)
    invalid = []
    for part in access.split_networks(str(networks)):
        try:
            access.parse_network(part)
        except ValueError:
            invalid.append(part)
    return invalid


def networks_admit(networks: str, address: str, instrumentation_source: str) -> bool:
    """True if a scrape from `address` passes the service's network check (none set admits all)."""
    access = _access_module(instrumentation_source)
    parts = access.split_networks(str(networks))
    if not parts:
        return True
    bad = invalid_networks(networks, instrumentation_source)
    valid = tuple(access.parse_network(part) for part in parts if part not in bad)
    return access.address_in_networks(address.strip("[]"), valid)


@cache
def _certificate_check():
    """prometheus_server's certificate check, loaded from its file: one check for every
    certificate the bundle installs."""
    path = Path(__file__).resolve().parents[2] / "prometheus_server" / "filter_plugins"
    spec = importlib.util.spec_from_file_location(
        "sanic_service_certificate_check", path / "prometheus_server_web.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.certificate_problems


def _read_text(path: str) -> str:
    """A control-node file's text, '' when it is missing or unreadable."""
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def tls_errors(services: list[dict], host: str) -> list[str]:
    """Each service's certificate and key (paths on the control node): both or neither, readable,
    PEM, and the certificate matches the key."""
    errors = []
    for service in services:
        cert_file, key_file = str(service["tls_cert_file"]), str(service["tls_key_file"])
        problems = _certificate_check()(
            cert_file,
            key_file,
            _read_text(cert_file) if cert_file else "",
            _read_text(key_file) if key_file else "",
            cert_variable=f"{_label(service)}.tls_cert_file",
            key_variable=f"{_label(service)}.tls_key_file",
        )
        errors += [f"{host}: {problem}" for problem in problems]
    return errors


def _label(service: dict) -> str:
    return f"sanic_services[name={service['name']}]"


def _json(value) -> str:
    """A value as the messages quote it: strings in double quotes, like `to_json`."""
    return '"{}"'.format(str(value).replace("\\", "\\\\").replace('"', '\\"'))


# --- identities -----------------------------------------------------------------------------------
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
                f"{host}: {_label(service)}.user/group = {_json(user)}/{_json(group)} is not"
                " allowed; use a lowercase name of 1-32 characters (a-z, 0-9, _, -) starting with a"
                " letter or _ (they default to the service name)"
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
                    f"{host}: {_label(service)}.{key} = {_json(name)}{where} is a privileged or"
                    f" shared system account; allowed: an account of the service's own (not root,"
                    f" not a {kind} 0-99 or 65534 such as daemon, www-data or nobody), or set"
                    " allow_privileged_user: true on the service"
                    " (sanic_service_allow_privileged_user: true for every service)"
                )
    return errors


# --- addresses ------------------------------------------------------------------------------------
LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}\.?$){LABEL}(\.{LABEL})*\.?$")


def is_host_name(name: str) -> bool:
    """A DNS name by RFC 1123 (labels of letters, digits and inner '-'); not an IP literal."""
    name = str(name)
    return bool(HOST_NAME.match(name)) and not re.fullmatch(r"[0-9.]+", name)


def _listens_everywhere(services: list[dict]) -> bool:
    return any(str(service["bind_address"]) in ANY_ADDRESSES for service in services)


def address_errors(services: list[dict], host: str, host_address: str) -> list[str]:
    """Bind addresses are IP literals (systemd's ListenStream= takes no names); the host's address,
    where Prometheus scrapes a service bound to every address, is an IP literal or a host name."""
    errors = []
    for service in services:
        if not listenable(service["bind_address"]):
            errors.append(
                f"{host}: {_label(service)}.bind_address = {_json(service['bind_address'])}"
                " is not allowed; use an IPv4 or IPv6 address of this host (e.g. 127.0.0.1,"
                " 0.0.0.0, ::1) or '' or '::' for every IPv4 and IPv6 address (systemd's"
                " ListenStream= takes no host names)"
            )
    if _listens_everywhere(services) and not (
        is_ip_literal(host_address) or is_host_name(host_address)
    ):
        errors.append(
            f"{host}: ansible_host (else the inventory name) = {_json(host_address)} is not"
            " allowed; use an IPv4 or IPv6 address or a host name Prometheus can resolve"
        )
    return errors


def scrape_host_names(services: list[dict], host_address: str) -> list[str]:
    """The host names (not IP literals) Prometheus scrapes this host's services at: they must
    resolve (preflight resolves them on the host). Empty when no service listens everywhere."""
    if _listens_everywhere(services) and is_host_name(host_address):
        return [host_address]
    return []


def listen_port(address) -> int | None:
    """The port of a program's listen address: host:port (IPv6 host in brackets), :port or a bare
    port; None when it is none of these, or its host is neither an IP literal nor a name."""
    text = str(address).strip()
    if re.fullmatch(r"[0-9]{1,5}", text):
        host, port = "", text
    else:
        host, separator, port = text.rpartition(":")
        if not separator or not re.fullmatch(r"[0-9]{1,5}", port):
            return None
        if host.startswith("["):
            if not (host.endswith("]") and is_ip_literal(host) and ":" in host):
                return None
        elif ":" in host or (host and not (is_ip_literal(host) or is_host_name(host))):
            return None
    number = int(port)
    return number if 1 <= number <= 65535 else None


# --- ports ----------------------------------------------------------------------------------------
def _port(value) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if 1 <= number <= 65535 else None


def host_listeners(listeners: list[dict], host: str, groups: dict, host_vars: dict) -> list[dict]:
    """The other programs the inventory places on this host: each entry of
    sanic_service_host_listeners whose group holds the host, with its listen address read from
    the host's variable (else the entry's default)."""
    found = []
    for listener in listeners:
        if host in (groups.get(listener["group"]) or []):
            variable = listener["variable"]
            value = host_vars.get(variable)
            found.append(
                {
                    "name": listener["name"],
                    "variable": variable,
                    "value": listener.get("default") if value is None else value,
                }
            )
    return found


def port_errors(services: list[dict], host: str, listeners: list[dict]) -> list[str]:
    """Every port on the host is a TCP port held by one program: each service's, and each other
    program's the inventory places on the host (`host_listeners`)."""
    errors = []
    held = {}
    for listener in listeners:
        port = listen_port(listener["value"])
        if port is None:
            errors.append(
                f"{host}: {listener['variable']} = {_json(listener['value'])} is not allowed; use"
                " host:port with an IP address ([...] for IPv6), a host name or nothing before the"
                " colon, and a port in 1-65535, e.g. 0.0.0.0:9090"
            )
        elif port in held:
            other = held[port]
            errors.append(
                f"{host}: {listener['variable']} = {_json(listener['value'])} uses port {port}, as"
                f" does {other['variable']} = {_json(other['value'])}; allowed: a port of its own"
                " for each program on the host"
            )
        else:
            held[port] = listener
    for service in services:
        port = _port(service["port"])
        if port is None:
            errors.append(
                f"{host}: {_label(service)}.port = {service['port']} is not allowed; use a TCP"
                " port in 1-65535"
            )
            continue
        sharing = [other["name"] for other in services if _port(other["port"]) == port]
        if len(sharing) > 1:
            errors.append(
                f"{host}: {_label(service)}.port = {port} is used by services"
                f" {' and '.join(sharing)}; each service needs its own port"
            )
        if port in held:
            listener = held[port]
            errors.append(
                f"{host}: {_label(service)}.port = {port} is held by {listener['name']} on this"
                f" host ({listener['variable']} = {_json(listener['value'])}); use a port no other"
                " program of the inventory listens on"
            )
    return errors


# --- metrics paths --------------------------------------------------------------------------------
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
    """A metrics path is a URL path of its own: not '/', and matching no route of the app
    (`app_routes`: service name -> the route paths found in its app_source)."""
    errors = []
    for service in services:
        path = str(service["metrics_path"])
        label = f"{host}: {_label(service)}.metrics_path = {_json(path)}"
        if not re.fullmatch(r"/\S*", path):
            errors.append(f"{label} is not allowed; use a URL path starting with /, e.g. /metrics")
        elif path.rstrip("/") == "":
            errors.append(
                f"{label} is not allowed: it would answer for the app's root; use a path of its"
                " own, e.g. /metrics"
            )
        else:
            shadowed = [
                route
                for route in (app_routes or {}).get(service["name"], [])
                if _route_pattern(str(route)).fullmatch(path)
            ]
            if shadowed:
                errors.append(
                    f"{label} is not allowed: it would shadow the app's route"
                    f" {', '.join(map(_json, shadowed))} (found in {service.get('app_source')});"
                    " use a path the app does not serve"
                )
    return errors


# --- worker recycling ----------------------------------------------------------------------------
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
                    f"{host}: {_label(service)}.{key} = {json.dumps(value)} is not allowed; use an"
                    f" integer >= 0, 0 for off (default sanic_service_{key})"
                )
            if variable in (service.get("environment") or {}):
                errors.append(
                    f"{host}: {_label(service)}.environment.{variable} is not allowed; use the"
                    f" service's {key} key (or sanic_service_{key} for every service)"
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
                f"{host}: {_label(service)}.max_requests_jitter = {json.dumps(jitter)} is not"
                f" allowed without max_requests; set max_requests > 0, or jitter 0"
            )
    return errors


# --- the Prometheus servers' variables ------------------------------------------------------------
def scrape_server_errors(host: str, group: str, servers: list[str], hostvars: dict) -> list[str]:
    """What this host reads from each Prometheus server of `group`: the directory it pushes its
    target file into (sanic_scrape_job_file_sd_dir, required, absolute)."""
    errors = []
    for server in servers:
        value = (hostvars.get(server) or {}).get("sanic_scrape_job_file_sd_dir")
        if value is None or str(value).strip() == "":
            problem = "is not set"
        elif not str(value).startswith("/"):
            problem = f"= {_json(value)} is not absolute"
        else:
            continue
        errors.append(
            f"{host}: sanic_scrape_job_file_sd_dir {problem} for Prometheus server {server} (group"
            f" {group}), where this host pushes its target file; allowed: an absolute directory,"
            f" set in the inventory's group_vars of {group}, e.g. /etc/prometheus/file_sd/sanic"
        )
    return errors


class FilterModule:
    def filters(self):
        return {
            "sanic_service_resolve": resolve_services,
            "sanic_service_listenable": listenable,
            "sanic_service_invalid_networks": invalid_networks,
            "sanic_service_networks_admit": networks_admit,
            "sanic_service_identity_errors": identity_errors,
            "sanic_service_address_errors": address_errors,
            "sanic_service_scrape_host_names": scrape_host_names,
            "sanic_service_listeners_on": host_listeners,
            "sanic_service_port_errors": port_errors,
            "sanic_service_metrics_path_errors": metrics_path_errors,
            "sanic_service_scrape_server_errors": scrape_server_errors,
            "sanic_service_recycling_errors": recycling_errors,
            "sanic_service_recycling_environment": recycling_environment,
            "sanic_service_tls_errors": tls_errors,
            "sanic_service_release": release_of,
            "sanic_service_releases_kept": releases_kept,
            "sanic_service_versions_to_prune": versions_to_prune,
            "sanic_service_rollback_release": rollback_release,
            "sanic_service_rollback_plan": rollback_plan,
            "sanic_service_accounts_to_remove": accounts_to_remove,
            "sanic_service_removal_errors": removal_errors,
            "sanic_service_cache_to_prune": cache_to_prune,
        }
