"""Content negotiation and compression of the merged metrics."""

import gzip

import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from app_instrumentation.render import gzip_accepted, render


@pytest.mark.parametrize(
    ("accept_encoding", "accepted"),
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("GZIP", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0", False),
        ("deflate, br", False),
        ("", False),
        ("gzip;q=bogus", False),
    ],
)
def test_gzip_is_accepted_only_when_listed_without_q_zero(accept_encoding, accepted):
    assert gzip_accepted(accept_encoding) is accepted


def test_scrapers_asking_for_versioned_text_get_the_latest_text_format(tmp_path):
    exposition = render(str(tmp_path), "text/plain;version=1.0.0", "")

    assert exposition.content_type.startswith(CONTENT_TYPE_LATEST)
    assert "Content-Encoding" not in exposition.headers


def test_scrapers_without_accept_get_versioned_text(tmp_path):
    assert render(str(tmp_path), "", "").content_type == "text/plain; version=0.0.4; charset=utf-8"


def test_prometheus_3_accept_header_gets_openmetrics(tmp_path):
    accept = (
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
        "application/openmetrics-text;version=0.0.1;q=0.5,"
        "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3"
    )

    exposition = render(str(tmp_path), accept, "")

    assert exposition.content_type.startswith("application/openmetrics-text; version=1.0.0")
    # An empty directory: only the collector's own file gauges, in OpenMetrics form.
    assert b"\napp_instrumentation_multiprocess_files 0.0\n" in exposition.body
    assert exposition.body.endswith(b"\n# EOF\n")


def test_gzip_body_decompresses_to_the_exposition(tmp_path):
    exposition = render(str(tmp_path), "application/openmetrics-text", "gzip")

    assert exposition.headers["Content-Encoding"] == "gzip"
    plain = render(str(tmp_path), "application/openmetrics-text", "")
    assert gzip.decompress(exposition.body) == plain.body
