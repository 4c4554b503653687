"""One scrape's answer: the multiprocess directory merged and encoded as the scraper asked.

Run by the merger process (merger.py), never by a serving worker: the merge is CPU work that grows
with the number of files.
"""

import gzip
from typing import NamedTuple

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from app_instrumentation.collector import SafeMultiProcessCollector
from app_instrumentation.settings import EXEMPLARS

OPENMETRICS_TYPE = "application/openmetrics-text"


def register_multiprocess_collector(
    registry: CollectorRegistry, path: str, exemplars: bool = False
) -> None:
    """The one place that chooses how the directory's files are merged."""
    SafeMultiProcessCollector(registry, path=path, exemplars=exemplars)


def gzip_accepted(accept_encoding: str) -> bool:
    """True if Accept-Encoding lists gzip (or *) without q=0."""
    for item in accept_encoding.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if coding.lower() not in ("gzip", "*"):
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


class Exposition(NamedTuple):
    body: bytes
    content_type: str
    headers: dict[str, str]


def render(path: str, accept: str, accept_encoding: str) -> Exposition:
    """Merge the directory and encode it as the scraper asked."""
    registry = CollectorRegistry()
    encoder, content_type = choose_encoder(accept)
    # Only OpenMetrics carries exemplars: the text format's output stays as it was without them.
    exemplars = content_type.startswith(OPENMETRICS_TYPE) and EXEMPLARS.read() == "on"
    register_multiprocess_collector(registry, path, exemplars)
    body = encoder(registry)
    headers = {"Vary": "Accept, Accept-Encoding"}
    if gzip_accepted(accept_encoding):
        body = gzip.compress(body, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    return Exposition(body, content_type, headers)
