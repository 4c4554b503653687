"""Builds the dashboard and writes dashboards/sanic.json (`make dashboards`)."""

import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dashboard_models

from .panels import DATASOURCE, TRACE_URL_VARIABLE, traffic_panels, worker_panels
from .slo_row import slo_row

DASHBOARD_FILE = Path(__file__).resolve().parent / "sanic.json"
DEFAULT_JOB = "sanic-api"
# Grafana's "All" sends this, so that every service matches without listing them.
ALL_SERVICES = ".+"


def variables() -> list:
    job = dashboard_models.VariableOption(text=DEFAULT_JOB, value=DEFAULT_JOB, selected=True)
    return [
        dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        dashboard.CustomVariable("job")
        .label("Scrape job")
        .values(DEFAULT_JOB)
        .current(job)
        .options([job]),
        dashboard.QueryVariable("service")
        .label("Service")
        .datasource(DATASOURCE)
        .query({"query": 'label_values(up{job="$job"}, service)', "refId": "service"})
        .multi(True)
        .include_all(True)
        .all_value(ALL_SERVICES)
        .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC)
        .current(dashboard_models.VariableOption(text="All", value="$__all")),
        dashboard.TextBoxVariable(TRACE_URL_VARIABLE)
        .label("Trace link URL")
        .description(
            "Where an exemplar's trace opens: the URL before the trace id, e.g."
            " http://tempo:3200/trace/ or http://jaeger:16686/trace/ (docs/EXEMPLARS.md)."
        ),
    ]


def sanic_dashboard() -> dashboard_models.Dashboard:
    builder = (
        dashboard.Dashboard("Sanic services")
        .uid("sanic-services")
        .description("Sanic services instrumented by app_instrumentation (multiprocess metrics).")
        .tags(["sanic", "prometheus"])
        .editable()
        .version(1)
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .variables(variables())
    )
    for panel in traffic_panels() + worker_panels():
        builder = builder.with_panel(panel)
    row, row_panels = slo_row()
    builder = builder.with_row(row)
    for panel in row_panels:
        builder = builder.with_panel(panel)
    return builder.build()


def dashboard_json() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(sanic_dashboard()) + "\n"


def main() -> None:
    DASHBOARD_FILE.write_text(dashboard_json())
    print(f"wrote {DASHBOARD_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
