"""Every per-service setting, declared once: the role's key, the environment variable, the type,
the default, the rule and one line of doc.

The service reads its environment through this table at start, in the main process and in every
worker (`instrument()`), and refuses a bad value with one line naming the variable, the value and
the fix. The role's preflight runs the same rules on the control node, before any change, on the
text the unit would pass (`service_errors`). tests/settings/ checks that the role's argument_specs
and defaults, the unit template, docs/ROLE_VARIABLES.md and this package's readers agree with it.

Imported on the control node too, where it needs nothing but the standard library.
"""

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping

from app_instrumentation.setting_rules import (
    Refused,
    Rule,
    absolute_file_or_empty,
    duration_buckets,
    listen_address,
    metrics_path,
    networks,
    one_of,
    pattern,
    positive_seconds,
    whole_number,
)

ERROR_PREFIX = "app_instrumentation: error: "


@dataclasses.dataclass(frozen=True)
class Setting:
    key: str | None  # the key of a sanic_services item; None: set through `environment` only
    environment: str | None  # the variable the unit passes to the service; None: role only
    type: str  # argument_specs' type of the key ("str" for an environment-only setting)
    default: object  # the value when left out (None: required, or derived as `doc` says)
    rule: Rule | None  # None: argument_specs' type (or a check with the host's state) says all
    doc: str
    example: str = ""  # a valid value other than the default, as the environment holds it
    role_variable: bool = False  # the role-wide default is the variable sanic_service_<key>
    choices: tuple[str, ...] = ()
    elements: str | None = None  # argument_specs' type of a list's items
    required: bool = False
    needs: str | None = None  # a setting (by key) that must be on (not 0) when this one is on
    passed_when: tuple[str, str] | None = None  # (key, value): the unit passes it only then

    @property
    def name(self) -> str:
        return self.key or self.environment

    @property
    def default_text(self) -> str:
        """The default as the environment holds it ("" when there is none)."""
        return "" if self.default is None else str(self.default)

    def parse(self, text: str) -> object:
        """Start: the value of `text`, or SystemExit with one line naming the variable, the value
        and the fix."""
        try:
            return self.rule(text) if self.rule else text
        except Refused as refused:
            raise SystemExit(
                f"{ERROR_PREFIX}{self.environment}={text} {refused.problem}; "
                f"fix: set {self.environment} to {refused.allowed}"
            ) from None

    def read(self, environ: Mapping[str, str] | None = None) -> object:
        """Start: the value in the environment, its default when unset or empty."""
        text = (os.environ if environ is None else environ).get(self.environment, "")
        if text == "" and self.default is None:
            raise SystemExit(
                f"{ERROR_PREFIX}{self.environment} is not set; fix: set it in the service"
                f" environment, e.g. {self.environment}={self.example}"
            )
        return self.parse(text or self.default_text)

    def refusal(self, value: object) -> Refused | None:
        """Control node: why the rule refuses `value` (as the unit writes it: str()), if it does."""
        try:
            if self.rule:
                self.rule(str(value))
        except Refused as refused:
            return refused
        return None


WHOLE_OR_OFF = "an integer >= 0, 0 for off"
# The OpenTelemetry HTTP semantic conventions' recommended boundaries for request duration.
OPENTELEMETRY_DURATION_BUCKETS = "0.005,0.01,0.025,0.05,0.075,0.1,0.25,0.5,0.75,1,2.5,5,7.5,10"

# Setting(key, environment, type, default, rule, doc, ...), in argument_specs' order.
NAME = Setting(
    "name", None, "str", None,
    pattern(r"[A-Za-z0-9_.-]{1,200}", "is not a unit name",
            "1-200 letters, digits, '_', '.' or '-' (the unit is sanic-<name>.service)"),
    "Service name; the unit is `sanic-<name>.service`. Letters, digits, `_`, `.`, `-`.",
    example="shop", required=True,
)  # fmt: skip
STATE = Setting(
    "state", None, "str", "present", None,
    "`absent` removes the service, its files and the accounts the role made for it; then only"
    " `name` is needed.",
    choices=("present", "absent"),
)  # fmt: skip
FACTORY = Setting(
    "factory", "INSTRUMENTED_APP", "str", None,
    pattern(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*",
            "is not module:callable", "module:callable, e.g. app.server:create_app"),
    "The app's factory (or Sanic app object) as `module:callable`, importable from app_source;"
    " required unless absent.",
    example="app.server:create_app", passed_when=("instrumentation", "wrapper"),
)  # fmt: skip
APP_SOURCE = Setting(
    "app_source", None, "path", None, None,
    "Absolute path on the control node of the app's directory, copied to the host; required"
    " unless absent.",
)  # fmt: skip
PORT = Setting(
    "port", None, "int", None,
    whole_number(1, 65535, "is not a TCP port", "a TCP port in 1-65535"),
    "TCP port, 1-65535, unique on the host; required unless absent.",
    example="10010",
)  # fmt: skip
BIND_ADDRESS = Setting(
    "bind_address", None, "str", "127.0.0.1", listen_address,
    "IP address the socket unit listens on, '' or '::' for every IPv4 and IPv6 address (default"
    " sanic_service_bind_address).",
    example="0.0.0.0", role_variable=True,
)  # fmt: skip
WORKERS = Setting(
    "workers", None, "int", 2,
    whole_number(1, None, "is not a whole number >= 1", "an integer >= 1"),
    "Sanic worker processes, at least 1 (default sanic_service_workers).",
    example="4", role_variable=True,
)  # fmt: skip
SOCKET_BACKLOG = Setting(
    "socket_backlog", None, "int", 4096,
    whole_number(1, None, "is not a whole number >= 1", "an integer >= 1"),
    "Connections the socket unit queues during a restart (default sanic_service_socket_backlog).",
    example="1024", role_variable=True,
)  # fmt: skip
USER = Setting(
    "user", None, "str", None, None,
    "System user the service runs as, created if missing (default the service name).",
)  # fmt: skip
GROUP = Setting(
    "group", None, "str", None, None,
    "System group the service runs as, created if missing (default the service name).",
)  # fmt: skip
REQUIREMENTS_FILE = Setting(
    "requirements_file", None, "str", "requirements.txt", None,
    "Requirements file relative to app_source, empty for none (default"
    " sanic_service_requirements_file).",
    role_variable=True,
)  # fmt: skip
MULTIPROC_DIR = Setting(
    "multiproc_dir", "PROMETHEUS_MULTIPROC_DIR", "str", None,
    pattern(r"(/(?!\.\.?(/|$))[A-Za-z0-9_.@+:-]+)+", "is not an absolute path without '.', '..'"
            " or spaces", "an absolute directory below a tmpfs mount, without '.', '..' or"
            " spaces, e.g. /dev/shm/prom_<name>"),
    "PROMETHEUS_MULTIPROC_DIR; absolute, below a tmpfs mount, unique on the host (default"
    " /dev/shm/prom_<name>).",
    example="/dev/shm/prom_shop",
)  # fmt: skip
METRICS_PATH = Setting(
    "metrics_path", "METRICS_PATH", "str", "/metrics", metrics_path,
    "Path that serves the metrics (default sanic_service_metrics_path).",
    example="/internal/metrics", role_variable=True,
)  # fmt: skip
INSTRUMENTATION = Setting(
    "instrumentation", None, "str", "wrapper", one_of(("wrapper", "explicit")),
    "`wrapper` (app unchanged) or `explicit` (app calls instrument(app)); default"
    " sanic_service_instrumentation.",
    example="explicit", role_variable=True, choices=("wrapper", "explicit"),
)  # fmt: skip
ENVIRONMENT = Setting(
    "environment", None, "dict", {}, None,
    "Extra environment merged over sanic_service_environment; no secrets (units are"
    " world-readable).",
    role_variable=True,
)  # fmt: skip
ALLOW_PRIVILEGED_USER = Setting(
    "allow_privileged_user", None, "bool", False, None,
    "Run as a privileged or shared system account (root, uid/gid 0-99 or 65534) on purpose"
    " (default sanic_service_allow_privileged_user).",
    role_variable=True,
)  # fmt: skip
MAX_REQUESTS = Setting(
    "max_requests", "SANIC_WORKER_MAX_REQUESTS", "int", 0,
    whole_number(0, None, "is not a whole number >= 0", WHOLE_OR_OFF),
    "Requests after which a worker is recycled, 0 for never (SANIC_WORKER_MAX_REQUESTS; default"
    " sanic_service_max_requests).",
    example="10000", role_variable=True,
)  # fmt: skip
MAX_REQUESTS_JITTER = Setting(
    "max_requests_jitter", "SANIC_WORKER_MAX_REQUESTS_JITTER", "int", 0,
    whole_number(0, None, "is not a whole number >= 0", WHOLE_OR_OFF),
    "Up to this many random extra requests per worker (SANIC_WORKER_MAX_REQUESTS_JITTER; default"
    " sanic_service_max_requests_jitter).",
    example="500", role_variable=True, needs="max_requests",
)  # fmt: skip
MAX_RSS_BYTES = Setting(
    "max_rss_bytes", "SANIC_WORKER_MAX_RSS_BYTES", "int", 0,
    whole_number(0, None, "is not a whole number >= 0", WHOLE_OR_OFF),
    "Resident bytes above which a worker is recycled, 0 for never (SANIC_WORKER_MAX_RSS_BYTES;"
    " default sanic_service_max_rss_bytes).",
    example="268435456", role_variable=True,
)  # fmt: skip
TLS_CERT_FILE = Setting(
    "tls_cert_file", None, "str", None, None,
    "Control-node path of a PEM certificate (chain); with it the service serves HTTPS and"
    " Prometheus scrapes it so (default none).",
)  # fmt: skip
TLS_KEY_FILE = Setting(
    "tls_key_file", None, "str", None, None,
    "Control-node path of the unencrypted PEM key of tls_cert_file; installed readable by the"
    " service's group only.",
)  # fmt: skip
KEEP_RELEASES = Setting(
    "keep_releases", None, "int", 1,
    whole_number(0, None, "is not a whole number >= 0", "an integer >= 0"),
    "Previous releases kept on the host for rollback (default sanic_service_keep_releases).",
    example="3", role_variable=True,
)  # fmt: skip
SLOS = Setting(
    "slos", None, "list", [], None,
    "SLOs (kind, objective, window, threshold_seconds), burn-rate alerts by sanic_scrape_job"
    " (docs/SLOS.md); default sanic_service_slos.",
    elements="dict", role_variable=True,
)  # fmt: skip
ALLOWED_NETWORKS = Setting(
    None, "METRICS_ALLOWED_NETWORKS", "str", "", networks,
    "Comma-separated CIDRs of the clients that may read the metrics path; empty admits every"
    " client.",
    example="127.0.0.1/32,10.0.0.0/8",
)  # fmt: skip
BEARER_TOKEN_FILE = Setting(
    None, "METRICS_BEARER_TOKEN_FILE", "str", "", absolute_file_or_empty,
    "Absolute path on the host of a file holding the token every scrape must send (Authorization:"
    " Bearer), readable by the service user; empty requires none.",
    example="/etc/sanic/shop.token",
)  # fmt: skip
DURATION_BUCKETS = Setting(
    None, "METRICS_DURATION_BUCKETS", "str", OPENTELEMETRY_DURATION_BUCKETS, duration_buckets,
    "Bucket bounds in seconds of http_server_request_duration_seconds, comma-separated and"
    " increasing (default: the OpenTelemetry recommendation).",
    example="0.01,0.1,1,10",
)  # fmt: skip
MERGE_TIMEOUT_SECONDS = Setting(
    None, "METRICS_MERGE_TIMEOUT_SECONDS", "str", "10", positive_seconds,
    "Seconds a scrape waits for the merge before it is answered 503 (default: Prometheus' default"
    " scrape_timeout).",
    example="5",
)  # fmt: skip
EXEMPLARS = Setting(
    None, "METRICS_EXEMPLARS", "str", "on", one_of(("on", "off")),
    "`on`: trace exemplars (W3C traceparent) on http_server_request_duration_seconds' buckets,"
    " served to OpenMetrics scrapes (docs/EXEMPLARS.md); `off`: none recorded or merged.",
    example="off", choices=("on", "off"),
)  # fmt: skip

# argument_specs' sanic_services options, in its order, then the environment-only settings.
SETTINGS = (
    NAME, STATE, FACTORY, APP_SOURCE, PORT, BIND_ADDRESS, WORKERS, SOCKET_BACKLOG, USER, GROUP,
    REQUIREMENTS_FILE, MULTIPROC_DIR, METRICS_PATH, INSTRUMENTATION, ENVIRONMENT,
    ALLOW_PRIVILEGED_USER, MAX_REQUESTS, MAX_REQUESTS_JITTER, MAX_RSS_BYTES, TLS_CERT_FILE,
    TLS_KEY_FILE, KEEP_RELEASES, SLOS, ALLOWED_NETWORKS, BEARER_TOKEN_FILE, DURATION_BUCKETS,
    MERGE_TIMEOUT_SECONDS, EXEMPLARS,
)  # fmt: skip
BY_KEY = {setting.key: setting for setting in SETTINGS if setting.key}
BY_ENVIRONMENT = {setting.environment: setting for setting in SETTINGS if setting.environment}
# What instrument() reads: every setting of the service's environment but the two the factory
# and the multiprocess check read before it (INSTRUMENTED_APP, PROMETHEUS_MULTIPROC_DIR).
READ_BY_INSTRUMENT = (
    METRICS_PATH, MAX_REQUESTS, MAX_REQUESTS_JITTER, MAX_RSS_BYTES, ALLOWED_NETWORKS,
    BEARER_TOKEN_FILE, DURATION_BUCKETS, MERGE_TIMEOUT_SECONDS, EXEMPLARS,
)  # fmt: skip


def read_environment(
    settings: Iterable[Setting] = READ_BY_INSTRUMENT, environ: Mapping[str, str] | None = None
) -> dict[str, object]:
    """Start: each setting's value by variable, or SystemExit at the first one refused (a
    setting's `needs` included)."""
    values = {setting.environment: setting.read(environ) for setting in settings}
    for setting in settings:
        needed = BY_KEY.get(setting.needs)
        if values[setting.environment] and needed and not values.get(needed.environment, 1):
            raise SystemExit(
                f"{ERROR_PREFIX}{setting.environment}={values[setting.environment]} without"
                f" {needed.environment}; fix: set {needed.environment} too, or unset"
                f" {setting.environment}"
            )
    return values


def service_errors(service: Mapping, where: str) -> list[str]:
    """Control node: every value of a resolved service (its keys and its `environment`) that the
    table refuses, one message each naming `where` (host and service), the value and what is
    allowed. A setting with a key is set through the key only, so the unit holds one value."""
    errors = []
    environment = service.get("environment") or {}
    for setting in SETTINGS:
        if setting.key in service and (refused := setting.refusal(service[setting.key])):
            default = f" (default sanic_service_{setting.key})" if setting.role_variable else ""
            errors.append(
                f"{where}.{setting.key} = {json.dumps(service[setting.key])} is not allowed;"
                f" use {refused.allowed}{default}"
            )
        if setting.environment not in environment:
            continue
        value = environment[setting.environment]
        if setting.key:
            every_service = f" (or sanic_service_{setting.key} for every service)"
            errors.append(
                f"{where}.environment.{setting.environment} is not allowed; use the service's"
                f" {setting.key} key{every_service if setting.role_variable else ''}"
            )
        elif str(value) and (refused := setting.refusal(value)):
            errors.append(
                f"{where}.environment.{setting.environment} = {json.dumps(value)} is not allowed;"
                f" use {refused.allowed}"
            )
    for setting in SETTINGS:
        needed = BY_KEY.get(setting.needs)
        if not (needed and setting.key in service and needed.key in service):
            continue
        value, other = service[setting.key], service[needed.key]
        if setting.refusal(value) or needed.refusal(other):
            continue
        if setting.rule(str(value)) and not needed.rule(str(other)):
            errors.append(
                f"{where}.{setting.key} = {json.dumps(value)} is not allowed without"
                f" {needed.key}; use {needed.key} > 0 too, or {setting.key} 0"
            )
    return errors
