"""Service level objectives: their rules, the burn-rate alerts of the SRE workbook, and the promtool
tests that prove each alert fires when it should and stays silent when it should.

An SLO here is a share of a service's requests over a window of 28 or 30 days:
- availability: requests answered without a 5xx. A 499 (the client closed the connection before
  the answer) counts neither way, since the service was never asked to finish; slow ones are the
  latency objective's business.
- latency: requests that took at most `threshold_seconds`, which must be a bucket boundary of the
  service's histogram: between two boundaries no series counts the requests below it.

The error ratio over a window is always `1 - good / valid`, so a service that never failed has a
ratio of 0, not an empty result (an absent 5xx series would make `errors / valid` empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

DURATION_METRIC = "http_server_request_duration_seconds"
KINDS = ("availability", "latency")
WINDOWS = {"28d": 28, "30d": 30}
# One alert name per window pair, so that each can be tested (promtool compares by name) and
# silenced on its own: SanicSLOBurnRate1h, ...6h (page), ...1d, ...3d (ticket).
ALERT_NAME = "SanicSLOBurnRate{long_window}"
RECORD_ERROR_RATIO = "sanic_slo:error_ratio:rate{window}"
RECORD_BUDGET_REMAINING = "sanic_slo:error_budget_remaining:ratio"


@dataclass(frozen=True)
class BurnAlert:
    """One of the workbook's multiwindow, multi-burn-rate alerts ("Alerting on SLOs", table 5-8)."""

    severity: str
    long_window: str
    short_window: str
    burn_rate: Decimal

    @property
    def long_seconds(self) -> int:
        return duration_seconds(self.long_window)


BURN_ALERTS = (
    BurnAlert("page", "1h", "5m", Decimal("14.4")),
    BurnAlert("page", "6h", "30m", Decimal("6")),
    BurnAlert("ticket", "1d", "2h", Decimal("3")),
    BurnAlert("ticket", "3d", "6h", Decimal("1")),
)
ALERT_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    return int(text[:-1]) * UNITS[text[-1]]


def go_float(value: float) -> str:
    """A bucket boundary as prometheus_client writes it in `le` (floatToGoString: 1 -> "1.0")."""
    from prometheus_client.utils import floatToGoString

    return floatToGoString(value)


@dataclass(frozen=True)
class Slo:
    """One objective of one service, validated (see `slo_errors`)."""

    service: str
    name: str
    kind: str
    objective: Decimal  # percent, 0 < objective < 100
    window: str
    threshold_seconds: float | None = None

    @property
    def error_budget(self) -> Decimal:
        """The share of requests that may fail: 1 - objective, exactly (99.9 -> 0.001)."""
        return (Decimal(100) - self.objective) / Decimal(100)

    def labels(self, job: str) -> dict[str, str]:
        return {"job": job, "service": self.service, "slo": self.name}


def _nearest_boundaries(value: float, buckets: tuple[float, ...]) -> str:
    below = [b for b in buckets if b < value]
    above = [b for b in buckets if b > value]
    nearest = ([f"{below[-1]:g}"] if below else []) + ([f"{above[0]:g}"] if above else [])
    return " and ".join(nearest)


def slo_errors(raw: object, service: str, buckets: tuple[float, ...], where: str) -> list[str]:
    """What is wrong with one SLO entry of `service`, each message naming `where` (the host),
    the service, the key and the value, and what is allowed. [] for a valid entry."""
    prefix = f"{where}: service {service}: slos"
    if not isinstance(raw, dict):
        return [f"{prefix}: each entry is a mapping (kind, objective, window), not {raw!r}"]
    errors = []
    unknown = sorted(set(raw) - {"name", "kind", "objective", "window", "threshold_seconds"})
    if unknown:
        errors.append(f"{prefix}: unknown key(s) {', '.join(unknown)}")
    kind = raw.get("kind")
    if kind not in KINDS:
        errors.append(f"{prefix}: kind = {kind!r}: one of {', '.join(KINDS)}")
    name = raw.get("name", kind if kind in KINDS else "")
    if "name" in raw and not (
        isinstance(name, str) and name.replace("_", "").replace("-", "").isalnum()
    ):
        errors.append(f"{prefix}: name = {name!r}: letters, digits, '_' and '-'")
    objective = raw.get("objective")
    try:
        valid_objective = 0 < Decimal(str(objective)) < 100 and not isinstance(objective, bool)
    except ArithmeticError:
        valid_objective = False
    if not valid_objective:
        errors.append(
            f"{prefix} {name}: objective = {objective!r}: a percentage above 0 and below 100"
            " (100 leaves no error budget to burn)"
        )
    window = raw.get("window")
    if window not in WINDOWS:
        errors.append(f"{prefix} {name}: window = {window!r}: one of {', '.join(WINDOWS)}")
    threshold = raw.get("threshold_seconds")
    if kind == "latency":
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            errors.append(
                f"{prefix} {name}: threshold_seconds = {threshold!r}: a latency objective needs"
                f" one of the service's bucket boundaries ({', '.join(f'{b:g}' for b in buckets)})"
            )
        elif float(threshold) not in buckets:
            errors.append(
                f"{prefix} {name}: threshold_seconds = {threshold!r} is not a bucket boundary of"
                f" the service's METRICS_DURATION_BUCKETS; the nearest are"
                f" {_nearest_boundaries(float(threshold), buckets)}"
            )
    elif threshold is not None:
        errors.append(f"{prefix} {name}: threshold_seconds is for latency objectives only")
    return errors


def parse_slo(raw: dict, service: str) -> Slo:
    """An entry `slo_errors` accepted, as an Slo."""
    threshold = raw.get("threshold_seconds")
    return Slo(
        service=service,
        name=raw.get("name", raw["kind"]),
        kind=raw["kind"],
        objective=Decimal(str(raw["objective"])),
        window=raw["window"],
        threshold_seconds=None if threshold is None else float(threshold),
    )


def _selector(labels: dict[str, str], **extra: str) -> str:
    matchers = [f'{k}="{v}"' for k, v in labels.items()] + [f"{k}{v}" for k, v in extra.items()]
    return "{" + ", ".join(matchers) + "}"


def error_ratio_expr(slo: Slo, job: str, window: str) -> str:
    """The share of bad requests of the SLO over `window`, by job and service."""
    scope = {"job": job, "service": slo.service}
    if slo.kind == "availability":
        good = _selector(scope, http_response_status_code='!~"5..|499"')
        valid = _selector(scope, http_response_status_code='!="499"')
        good_series, valid_series = (
            f"{DURATION_METRIC}_count{good}",
            f"{DURATION_METRIC}_count{valid}",
        )
    else:
        le_matcher = '="' + go_float(slo.threshold_seconds) + '"'
        good_series = f"{DURATION_METRIC}_bucket{_selector(scope, le=le_matcher)}"
        valid_series = f"{DURATION_METRIC}_count{_selector(scope)}"
    return (
        f"1 - (sum by (job, service) (rate({good_series}[{window}]))"
        f" / sum by (job, service) (rate({valid_series}[{window}])))"
    )


def rule_group(slo: Slo, job: str, interval: str) -> dict:
    """The SLO's recording rules (the error ratio over every window an alert or the budget
    reads, the budget left over the SLO's window) and its four burn-rate alerts."""
    # The service is in the expressions' result already; as a rule label too, so that promtool
    # does not take two services' rules of the same record name and SLO for duplicates.
    labels = {"service": slo.service, "slo": slo.name}
    rules = [
        {
            "record": RECORD_ERROR_RATIO.format(window=window),
            "expr": error_ratio_expr(slo, job, window),
            "labels": labels,
        }
        for window in (*ALERT_WINDOWS, slo.window)
    ]
    selector = _selector(slo.labels(job))
    rules.append(
        {
            "record": RECORD_BUDGET_REMAINING,
            "expr": f"1 - {RECORD_ERROR_RATIO.format(window=slo.window)}{selector}"
            f" / {slo.error_budget}",
            "labels": {**labels, "objective": str(slo.objective), "window": slo.window},
        }
    )
    for alert in BURN_ALERTS:
        threshold = alert.burn_rate * slo.error_budget
        long_ratio = RECORD_ERROR_RATIO.format(window=alert.long_window) + selector
        short_ratio = RECORD_ERROR_RATIO.format(window=alert.short_window) + selector
        rules.append(
            {
                "alert": ALERT_NAME.format(long_window=alert.long_window),
                "expr": f"{long_ratio} > {threshold}\nand\n{short_ratio} > {threshold}",
                "labels": {
                    **labels,
                    "severity": alert.severity,
                    "long_window": alert.long_window,
                    "short_window": alert.short_window,
                },
                "annotations": {
                    "summary": f"{slo.service}: the {slo.name} SLO ({slo.objective}% over"
                    f" {slo.window}) burns its error budget {alert.burn_rate}x too fast",
                    "description": f"Over {alert.long_window} and {alert.short_window}, more than"
                    f" {threshold} of the requests were bad ({alert.burn_rate} x the budget of"
                    f" {slo.error_budget}); at this rate the budget of {slo.window} lasts"
                    f" {_budget_lasts(slo, alert)}.",
                },
            }
        )
    return {"name": f"sanic-slo-{slo.service}-{slo.name}", "interval": interval, "rules": rules}


def _budget_lasts(slo: Slo, alert: BurnAlert) -> str:
    days = Decimal(WINDOWS[slo.window]) / alert.burn_rate
    return f"{days.quantize(Decimal('0.1')).normalize()} days"


def duration_buckets(service: dict, host_environment: dict) -> tuple[float, ...]:
    """The service's histogram boundaries as its unit's environment sets them: its own
    `environment` over the host's `sanic_service_environment`, else the package's default."""
    from app_instrumentation.http_metrics import DURATION_BUCKETS_ENV_VAR, parse_duration_buckets

    environment = {**(host_environment or {}), **(service.get("environment") or {})}
    try:
        return parse_duration_buckets(str(environment.get(DURATION_BUCKETS_ENV_VAR, "")))
    except SystemExit:  # the service's own preflight names the bad value
        return ()


def fleet_slos(hosts: dict[str, dict]) -> tuple[list[Slo], list[str]]:
    """Every SLO of the fleet and what is wrong with them. `hosts` maps each app host to its
    inventory: `sanic_services`, and `sanic_service_slos` (the SLOs of a service that declares
    none) and `sanic_service_environment` where set. A service that runs on several hosts must
    declare the same SLOs on each: they are its fleet's objectives, evaluated once."""
    slos: dict[str, list[Slo]] = {}
    declared_on: dict[str, str] = {}
    errors = []
    for host, inventory in sorted(hosts.items()):
        for service in inventory.get("sanic_services") or []:
            name = service.get("name")
            if service.get("state", "present") == "absent" or not isinstance(name, str):
                continue
            raw = service.get("slos", inventory.get("sanic_service_slos") or [])
            if not isinstance(raw, list):
                errors.append(f"{host}: service {name}: slos = {raw!r}: a list of objectives")
                continue
            buckets = duration_buckets(service, inventory.get("sanic_service_environment"))
            found = [e for entry in raw for e in slo_errors(entry, name, buckets, host)]
            names = [
                entry.get("name", entry.get("kind")) for entry in raw if isinstance(entry, dict)
            ]
            if len(set(names)) != len(names):
                found.append(f"{host}: service {name}: slos: two objectives named alike ({names})")
            errors.extend(found)
            if found:
                continue
            parsed = [parse_slo(entry, name) for entry in raw]
            if name in slos and slos[name] != parsed:
                errors.append(
                    f"{host}: service {name}: slos differ from those on {declared_on[name]};"
                    " a service has one set of objectives on every host"
                )
            slos.setdefault(name, parsed)
            declared_on.setdefault(name, host)
    return [slo for service in sorted(slos) for slo in slos[service]], errors
