"""The metrics endpoint: merge every worker's files per scrape, in a helper process.

Each scrape builds a fresh registry so it reads the directory as it is now. The merge is
synchronous CPU work that grows with the number of files. Run in a thread of the worker, it holds
the worker's GIL, and the event loop then waits up to the interpreter's switch interval (5 ms)
each time it wants the GIL back, several times per request: a hello route's p99 reached 30-150 ms
while a large directory was scraped on a loaded machine. So each worker starts one long-lived
helper process (`python -m app_instrumentation.exposition DIR`) at its first scrape and sends it
each scrape's Accept headers through a pipe that the event loop reads like a socket: no thread of
the worker ever waits for its GIL. The helper keeps the collector's per-file cache between
scrapes, writes no metrics itself, and exits when the pipe closes, when its worker exits or dies.
"""

import asyncio
import gzip
import json
import logging
import os
import signal
import sys
from typing import NamedTuple

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from sanic import HTTPResponse, Request

from app_instrumentation.access import AccessPolicy
from app_instrumentation.collector import SafeMultiProcessCollector

# This worker's helper process per directory.
_helpers: dict[str, "MergeHelper"] = {}


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


class MergeHelper:
    """The worker's end of the helper process that renders `path`'s merged metrics.

    Each exchange: one JSON line each way, then the body's bytes (their length is in the answer's
    line). Scrapes take turns. A helper that died is replaced, and the scrape retried once.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._process: asyncio.subprocess.Process | None = None
        self._turn = asyncio.Lock()

    async def render(self, accept: str, accept_encoding: str) -> Exposition:
        request = json.dumps({"accept": accept, "accept_encoding": accept_encoding}).encode()
        # A scrape cancelled mid-exchange (its client left) must still read its answer from the
        # pipe, or the next scrape would get it.
        return await asyncio.shield(self._render(request))

    async def _render(self, request: bytes) -> Exposition:
        async with self._turn:
            try:
                return await self._exchange(request)
            except (OSError, EOFError):
                # The helper died (killed, out of memory): a new one serves this scrape.
                self._stop()
                return await self._exchange(request)

    async def _exchange(self, request: bytes) -> Exposition:
        if self._process is None or self._process.returncode is not None:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                self._path,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        self._process.stdin.write(request + b"\n")
        await self._process.stdin.drain()
        line = await self._process.stdout.readline()
        if not line:
            raise EOFError("the metrics merge helper exited")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"metrics merge helper: {answer['error']}")
        body = await self._process.stdout.readexactly(answer["length"])
        return Exposition(body, answer["content_type"], answer["headers"])

    def _stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
        self._process = None


async def render_in_helper(path: str, accept: str, accept_encoding: str) -> Exposition:
    helper = _helpers.get(path)
    if helper is None:
        helper = _helpers[path] = MergeHelper(path)
    return await helper.render(accept, accept_encoding)


def serve_merges(path: str) -> None:
    """The helper's loop: one rendered exposition per request line, until stdin closes."""
    # The pipe to the worker gets only answers: anything else printed goes to stderr instead.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # Ctrl-C in a terminal reaches the whole process group: the worker decides when this ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            exposition = render(path, request["accept"], request["accept_encoding"])
        except Exception as error:  # answered as an error: this scrape fails, the helper stays
            logging.exception("metrics merge failed")
            answers.write(json.dumps({"error": repr(error)}).encode() + b"\n")
        else:
            answer = {
                "length": len(exposition.body),
                "content_type": exposition.content_type,
                "headers": exposition.headers,
            }
            answers.write(json.dumps(answer).encode() + b"\n" + exposition.body)
        answers.flush()


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
        exposition = await render_in_helper(
            path,
            request.headers.get("accept", ""),
            request.headers.get("accept-encoding", ""),
        )
        return HTTPResponse(
            exposition.body, headers=exposition.headers, content_type=exposition.content_type
        )

    return metrics


if __name__ == "__main__":
    serve_merges(sys.argv[1])
