"""The SLO row, repeated for each service picked: SLI, error budget left and burn rates, read from
the recording rules that plugins/module_utils/slo.py generates for every SLO:
`sanic_slo:error_ratio:rate<window>{job, service, slo}` and
`sanic_slo:error_budget_remaining:ratio{job, service, slo, objective, window}`.

The rules carry the objective only as a label, and PromQL cannot turn a label into a number; the
budget rule gives the error budget back: remaining = 1 - ratio(SLO window) / budget, so
budget = ratio(SLO window) / (1 - remaining) wherever the SLO window saw a bad request.
"""

from ansible_collections.sanic_prometheus.multiprocess.plugins.module_utils.slo import (
    BURN_ALERTS,
    RECORD_BUDGET_REMAINING,
    RECORD_ERROR_RATIO,
    WINDOWS,
)
from grafana_foundation_sdk.builders import common, dashboard
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

from .panels import query, selected, timeseries_panel

SLO_WINDOWS = tuple(WINDOWS)
SLO_LABELS = "job, service, slo"


def error_ratio(window: str) -> str:
    return selected(RECORD_ERROR_RATIO.format(window=window))


def slo_window_error_ratio() -> str:
    """The error ratio over each SLO's own window: every SLO records exactly one of them."""
    return "(" + " or ".join(error_ratio(window) for window in SLO_WINDOWS) + ")"


def burn_rate(window: str) -> str:
    """How many times faster than its budget allows the SLO failed over `window`; 0 while its
    whole SLO window saw no bad request (every shorter window is then 0 too)."""
    remaining = selected(RECORD_BUDGET_REMAINING)
    budget = f"(({slo_window_error_ratio()} > 0) / on ({SLO_LABELS}) (1 - {remaining}))"
    no_bad_request = f"({slo_window_error_ratio()} == 0)"
    return (
        f"({error_ratio(window)} / on ({SLO_LABELS}) {budget})"
        f" or (0 * {error_ratio(window)} and on ({SLO_LABELS}) {no_bad_request})"
    )


def with_objective(expr: str) -> str:
    """`expr` (one series per SLO) with the SLO's objective and window as labels, for legends."""
    objective = f"count by ({SLO_LABELS}, objective, window) ({selected(RECORD_BUDGET_REMAINING)})"
    return f"({expr}) * on ({SLO_LABELS}) group_left (objective, window) {objective}"


def sli_panel():
    return timeseries_panel(
        11,
        "SLI against objective",
        "Share of good requests (1 - error ratio) of each SLO over its window and over the last"
        " hour; the legend names the objective it must stay above.",
        "percentunit",
        [
            query(
                "A",
                with_objective(f"1 - {slo_window_error_ratio()}"),
                "{{slo}} over {{window}} (objective {{objective}}%)",
            ),
            query(
                "B",
                with_objective(f"1 - {error_ratio('1h')}"),
                "{{slo}} over 1h (objective {{objective}}%)",
            ),
        ],
        width=8,
    )


def budget_panel():
    return timeseries_panel(
        12,
        "Error budget remaining",
        "Share of the SLO window's error budget not yet spent; below 0 the objective is missed.",
        "percentunit",
        [
            query(
                "A",
                selected(RECORD_BUDGET_REMAINING),
                "{{slo}} ({{objective}}% over {{window}})",
            )
        ],
        width=8,
    ).thresholds(
        dashboard.ThresholdsConfig()
        .mode(dashboard_models.ThresholdsMode.ABSOLUTE)
        .steps(
            [
                dashboard_models.Threshold(value=None, color="red"),
                dashboard_models.Threshold(value=0, color="green"),
            ]
        )
    )


def burn_rate_panel():
    return (
        timeseries_panel(
            13,
            "Burn rates",
            "Error ratio over each alert's long window divided by the error budget; the lines are"
            " the alerts' thresholds: page at 14.4 (1h) and 6 (6h), ticket at 3 (1d) and 1 (3d).",
            "short",
            [
                query(
                    ref_id,
                    burn_rate(alert.long_window),
                    f"{{{{slo}}}} over {alert.long_window} ({alert.severity} at {alert.burn_rate})",
                )
                for ref_id, alert in zip("ABCD", BURN_ALERTS, strict=True)
            ],
            width=8,
        )
        .thresholds(
            dashboard.ThresholdsConfig()
            .mode(dashboard_models.ThresholdsMode.ABSOLUTE)
            .steps(
                [dashboard_models.Threshold(value=None, color="green")]
                + [
                    dashboard_models.Threshold(
                        value=float(alert.burn_rate),
                        color="red" if alert.severity == "page" else "orange",
                    )
                    for alert in sorted(BURN_ALERTS, key=lambda alert: alert.burn_rate)
                ]
            )
        )
        .thresholds_style(
            common.GraphThresholdsStyleConfig().mode(common_models.GraphTresholdsStyleMode.DASHED)
        )
    )


def slo_row() -> tuple[dashboard.Row, list]:
    """The row, repeated by Grafana for each service picked in $service, and its panels."""
    row = dashboard.Row("SLOs of $service").id(10).repeat("service")
    return row, [sli_panel(), budget_panel(), burn_rate_panel()]
