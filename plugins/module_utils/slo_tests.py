"""promtool unit tests generated for every burn-rate alert of an SLO (`slo.rule_group`).

Each test first serves a full long window of clean traffic, then burns the error budget at a
constant multiple of the alert's own burn rate, as a real outage does. The error ratio over the
long window then climbs linearly and crosses the threshold after long window x burn rate / burn:
- at 1x, 2x and 10x its burn rate an alert must fire by that detection time plus three sample
  intervals (the first sample of the burn, the rate's extrapolation, one evaluation), and must be
  silent at half of it (so a rule that fires too early fails too);
- at 0.9x it must stay silent at every check over two long windows (when 0.9x would be more bad
  requests than there are, at a low objective, it must stay silent with every request bad).
"1x" burns one part in a million faster than the threshold: at exactly the threshold the ratio
equals it, and float rounding, not the rule, would decide a `>`.
A burn whose bad requests would exceed all requests (10x of 14.4 at 99%) cannot happen and is not
generated. Each alert gets its own file, with samples a fifth of its short window apart, and each
SLO its own rules file.
"""

from __future__ import annotations

from decimal import Decimal

from .slo import (
    ALERT_NAME,
    BURN_ALERTS,
    DURATION_METRIC,
    BurnAlert,
    Slo,
    duration_seconds,
    go_float,
    rule_group,
)

BURNS_THAT_FIRE = (Decimal("1.000001"), Decimal(2), Decimal(10))
BURN_THAT_STAYS_SILENT = Decimal("0.9")
REQUESTS_PER_SAMPLE = 1000
SILENT_CHECKS_PER_LONG_WINDOW = 4


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _counter(clean_steps: int, clean_step: Decimal, burn_steps: int, burn_step: Decimal) -> str:
    """promtool's expanding notation: `clean_steps` samples growing by `clean_step` from 0, then
    `burn_steps` samples growing by `burn_step`."""
    burn_start = clean_step * clean_steps + burn_step
    return f"0+{clean_step}x{clean_steps} {burn_start}+{burn_step}x{burn_steps - 1}"


def _input_series(slo: Slo, job: str, bad_share: Decimal, clean_steps: int, burn_steps: int):
    labels = {**{"job": job, "service": slo.service}, "instance": "test:8000"}
    requests = Decimal(REQUESTS_PER_SAMPLE)
    bad = requests * bad_share
    route = {"http_request_method": "GET", "http_route": "/items"}
    if slo.kind == "availability":
        ok = {**labels, **route, "http_response_status_code": "200"}
        failed = {**labels, **route, "http_response_status_code": "500"}
        # Clients that leave count neither way: many of them must not move the ratio.
        gone = {**labels, **route, "http_response_status_code": "499"}
        count = f"{DURATION_METRIC}_count"
        return [
            {
                "series": _series(count, ok),
                "values": _counter(clean_steps, requests, burn_steps, requests - bad),
            },
            {
                "series": _series(count, failed),
                "values": _counter(clean_steps, Decimal(0), burn_steps, bad),
            },
            {
                "series": _series(count, gone),
                "values": _counter(clean_steps, requests, burn_steps, requests),
            },
        ]
    ok = {**labels, **route, "http_response_status_code": "200"}
    fast = {**ok, "le": go_float(slo.threshold_seconds)}
    return [
        {
            "series": _series(f"{DURATION_METRIC}_count", ok),
            "values": _counter(clean_steps, requests, burn_steps, requests),
        },
        {
            "series": _series(f"{DURATION_METRIC}_bucket", fast),
            "values": _counter(clean_steps, requests, burn_steps, requests - bad),
        },
    ]


def _at(seconds: int) -> str:
    return f"{seconds}s"


def _expected_alert(slo: Slo, job: str, alert: BurnAlert) -> dict:
    rule = next(
        r
        for r in rule_group(slo, job, "1m")["rules"]
        if r.get("alert") == ALERT_NAME.format(long_window=alert.long_window)
    )
    return {
        "exp_labels": {**slo.labels(job), **rule["labels"]},
        "exp_annotations": rule["annotations"],
    }


def alert_tests(slo: Slo, job: str, alert: BurnAlert, rules_file: str) -> dict:
    """The promtool test file of one burn-rate alert of `slo`."""
    step = duration_seconds(alert.short_window) // 5
    long_steps = alert.long_seconds // step
    clean_steps = long_steps + 1
    clean_end = clean_steps * step
    name = ALERT_NAME.format(long_window=alert.long_window)
    tests = []
    for burn in BURNS_THAT_FIRE:
        bad_share = burn * alert.burn_rate * slo.error_budget
        if bad_share > 1:
            continue
        detection = int(alert.long_seconds / burn)
        fires_by = -(-(detection + 3 * step) // step) * step
        silent_at = detection // 2 // step * step
        tests.append(
            {
                "name": f"{slo.service} {slo.name}: {name} fires within {_at(fires_by)}"
                f" of a burn of {burn}x its rate",
                "interval": _at(step),
                "input_series": _input_series(
                    slo, job, bad_share, clean_steps, fires_by // step + 1
                ),
                "alert_rule_test": [
                    {"eval_time": _at(clean_end + silent_at), "alertname": name, "exp_alerts": []},
                    {
                        "eval_time": _at(clean_end + fires_by),
                        "alertname": name,
                        "exp_alerts": [_expected_alert(slo, job, alert)],
                    },
                ],
            }
        )
    # At a low objective an alert's threshold can exceed every request (14.4x of 10%): it then
    # stays silent even when all requests fail, and that is what is tested.
    silent_share = min(BURN_THAT_STAYS_SILENT * alert.burn_rate * slo.error_budget, Decimal(1))
    checks = 2 * SILENT_CHECKS_PER_LONG_WINDOW
    quarter = alert.long_seconds // SILENT_CHECKS_PER_LONG_WINDOW // step * step
    tests.append(
        {
            "name": f"{slo.service} {slo.name}: {name} stays silent"
            f" at {BURN_THAT_STAYS_SILENT}x its rate",
            "interval": _at(step),
            "input_series": _input_series(
                slo, job, silent_share, clean_steps, checks * quarter // step + 1
            ),
            "alert_rule_test": [
                {"eval_time": _at(clean_end + i * quarter), "alertname": name, "exp_alerts": []}
                for i in range(1, checks + 1)
            ],
        }
    )
    return {"rule_files": [rules_file], "evaluation_interval": _at(step), "tests": tests}


def test_files(slo: Slo, job: str, rules_file: str) -> dict[str, dict]:
    """File name -> promtool test file, one per burn-rate alert of `slo`, whose rules (and only
    those: every test evaluates every rule of its files) are in `rules_file`."""
    return {
        f"{slo.service}-{slo.name}-{alert.long_window}.test.yml": alert_tests(
            slo, job, alert, rules_file
        )
        for alert in BURN_ALERTS
    }
