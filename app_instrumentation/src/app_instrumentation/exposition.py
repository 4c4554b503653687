"""The metrics endpoint: merge every worker's files per scrape, off the event loop.

Each scrape builds a fresh registry so it reads the directory as it is now; the merge is
synchronous CPU work that grows with the number of files, so it runs in a thread.
"""

import asyncio
import gzip
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from sanic import HTTPResponse, Request

from app_instrumentation.access import AccessPolicy
from app_instrumentation.collector import SafeMultiProcessCollector

# One thread per worker: concurrent scrapes queue instead of competing for the GIL.
_merge_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-merge")


def register_multiprocess_collector(registry: CollectorRegistry, path: str) -> None:
    """The one place that chooses how the directory's files are merged."""
    SafeMultiProcessCollector(registry, path=path)


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
    register_multiprocess_collector(registry, path)
    encoder, content_type = choose_encoder(accept)
    body = encoder(registry)
    headers = {"Vary": "Accept, Accept-Encoding"}
    if gzip_accepted(accept_encoding):
        body = gzip.compress(body, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    return Exposition(body, content_type, headers)


def make_metrics_handler(path: str, policy: AccessPolicy):
    """Build the Sanic handler serving the merged metrics of `path`."""

    async def metrics(request: Request) -> HTTPResponse:
        status = policy.status_for(request.ip, request.headers.get("authorization"))
        if status == 401:
            return HTTPResponse(
                "unauthorized\n", status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        if status == 403:
            return HTTPResponse("forbidden\n", status=403)
        exposition = await asyncio.get_running_loop().run_in_executor(
            _merge_executor,
            render,
            path,
            request.headers.get("accept", ""),
            request.headers.get("accept-encoding", ""),
        )
        return HTTPResponse(
            exposition.body, headers=exposition.headers, content_type=exposition.content_type
        )

    return metrics
