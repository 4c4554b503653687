"""The pieces every panel shares, and the panels of the services' own series."""

from grafana_foundation_sdk.builders import common, dashboard, prometheus, timeseries
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

DATASOURCE = dashboard_models.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Every query reads the scrape job and the services picked in the dashboard's variables.
SELECTED = 'job="$job", service=~"$service"'
REQUESTS = f"http_server_request_duration_seconds_count{{{SELECTED}}}"
# The dashboard variable holding the trace UI's URL before a trace id.
TRACE_URL_VARIABLE = "trace_url"


def selected(metric: str, *matchers: str) -> str:
    """`metric` of the dashboard's job and services, with `matchers` besides."""
    return f"{metric}{{{', '.join((SELECTED, *matchers))}}}"


def query(ref_id: str, expr: str, legend: str, *, exemplars: bool = False) -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .datasource(DATASOURCE)
        .ref_id(ref_id)
        .expr(expr)
        .legend_format(legend)
        .exemplar(exemplars)
    )


def timeseries_panel(
    panel_id: int, title: str, description: str, unit: str, queries: list, *, width=12, height=8
) -> timeseries.Panel:
    """A time series panel with a table legend and a tooltip of every series, largest first;
    the dashboard places it after the one before (left to right, then the next line)."""
    return (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .grid_pos(dashboard_models.GridPos(h=height, w=width))
        .unit(unit)
        .legend(
            common.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.TABLE)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common.VizTooltipOptions()
            .mode(common_models.TooltipDisplayMode.MULTI)
            .sort(common_models.SortOrder.DESCENDING)
        )
        .targets(queries)
    )


def rate_by(labels: str, series: str) -> str:
    return f"sum by ({labels}) (rate({series}[$__rate_interval]))"


def traffic_panels() -> list[timeseries.Panel]:
    server_errors = selected(
        "http_server_request_duration_seconds_count", 'http_response_status_code=~"5.."'
    )
    requests = rate_by("service", REQUESTS)
    buckets = rate_by(
        "service, http_route, le", selected("http_server_request_duration_seconds_bucket")
    )
    return [
        timeseries_panel(
            1,
            "Request rate",
            "Requests per second by service and status code.",
            "reqps",
            [
                query(
                    "A",
                    rate_by("service, http_response_status_code", REQUESTS),
                    "{{service}} {{http_response_status_code}}",
                )
            ],
        ),
        timeseries_panel(
            2,
            "Error ratio (5xx)",
            "Share of requests answered with a 5xx status; 0 when there are none.",
            "percentunit",
            # `or ... * 0`: a service without any 5xx series shows 0, not a gap.
            [
                query(
                    "A",
                    f"({rate_by('service', server_errors)} or {requests} * 0) / {requests}",
                    "{{service}}",
                )
            ],
        ),
        timeseries_panel(
            3,
            "Latency quantiles by route",
            "p50, p90 and p99 request duration by service and route; the dots are exemplars:"
            " one traced request per bucket, linked to its trace by the trace link URL.",
            "s",
            [
                query(
                    ref_id,
                    f"histogram_quantile({quantile}, {buckets})",
                    f"p{round(float(quantile) * 100)} {{{{service}}}} {{{{http_route}}}}",
                    exemplars=ref_id == "C",
                )
                for ref_id, quantile in (("A", "0.5"), ("B", "0.9"), ("C", "0.99"))
            ],
            width=24,
            height=10,
        ).data_links(
            [
                dashboard.DashboardLink("Open trace")
                .url(f"${{{TRACE_URL_VARIABLE}}}${{__data.fields.trace_id}}")
                .target_blank(True)
            ]
        ),
    ]


def worker_panels() -> list[timeseries.Panel]:
    return [
        timeseries_panel(
            4,
            "In-flight requests",
            "Requests being served right now, summed over the workers of each instance.",
            "short",
            [
                query(
                    "A",
                    f"sum by (service, instance) ({selected('http_server_active_requests')})",
                    "{{service}} {{instance}}",
                )
            ],
        ),
        timeseries_panel(
            5,
            "Live workers",
            "Live Sanic workers against the configured count; a gap means a worker died and was"
            " not replaced.",
            "short",
            [
                query("A", selected("sanic_workers_live"), "live {{service}} {{instance}}"),
                query(
                    "B", selected("sanic_workers_configured"), "configured {{service}} {{instance}}"
                ),
            ],
        ),
        timeseries_panel(
            6,
            "Scrape duration",
            "Time Prometheus needs to scrape each instance; it grows with the number of"
            " multiprocess files.",
            "s",
            [query("A", selected("scrape_duration_seconds"), "{{service}} {{instance}}")],
        ),
        timeseries_panel(
            7,
            "Multiprocess files",
            "Files merged per scrape and files skipped as unreadable.",
            "short",
            [
                query(
                    "A",
                    selected("app_instrumentation_multiprocess_files"),
                    "merged {{service}} {{instance}}",
                ),
                query(
                    "B",
                    selected("app_instrumentation_multiprocess_files_corrupt"),
                    "corrupt {{service}} {{instance}}",
                ),
            ],
        ),
        timeseries_panel(
            8,
            "Worker restarts by reason",
            "Workers replaced per interval: crash (died; SanicWorkerCrashLoop counts these),"
            " recycled (max_requests or max_rss_bytes), manual. Read through the counter's reset"
            " when the service restarts.",
            "short",
            [
                query(
                    "A",
                    "sum by (service, instance, reason)"
                    f" (increase({selected('sanic_worker_restarts_total')}[$__rate_interval]))",
                    "{{reason}} {{service}} {{instance}}",
                )
            ],
        ),
        timeseries_panel(
            9,
            "Worker resident memory",
            "Resident memory of each worker slot and of the main process (slot main); a slot"
            " drops when its worker is replaced. SanicWorkerMemoryHigh fires above its bound.",
            "bytes",
            [
                query(
                    "A",
                    selected("sanic_worker_resident_memory_bytes"),
                    "slot {{slot}} {{service}} {{instance}}",
                )
            ],
        ),
    ]
