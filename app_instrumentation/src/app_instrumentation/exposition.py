"""The metrics endpoint: each scrape is merged by the service's one merger process (merger.py).

The Sanic main process serves no requests, so it owns the merger: `start_service_merger` (a
main_process_start listener, run before any worker is spawned) creates a private directory
(mkdtemp: mode 0700, owned by the service user), starts the merger listening on a socket in it,
and puts the socket's path in the environment that the workers inherit. A thread of the main
process replaces the merger whenever it exits. A process that runs no Sanic main process (single
process mode) finds no socket in its environment and starts the same merger for itself, at its
first scrape.

A worker forwards each scrape over a new connection with asyncio: its event loop never waits on
the merge. If the connection fails (the merger died mid-scrape, or is being replaced) the scrape
is sent once more, to the replacement. A merger that does not answer in time (stopped, or
overloaded) is answered 503 after METRICS_MERGE_TIMEOUT_SECONDS; requests meanwhile are served.
"""

import asyncio
import atexit
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading

from sanic import HTTPResponse, Request

from app_instrumentation.access import AccessPolicy
from app_instrumentation.settings import MERGE_TIMEOUT_SECONDS

MERGER_SOCKET_ENV_VAR = "APP_INSTRUMENTATION_MERGER_SOCKET"
SOCKET_NAME = "merger.sock"
# How often a scrape tries to connect again while the merger is (re)starting.
CONNECT_RETRY_SECONDS = 0.02
# A merger that exits at once must not be restarted in a tight loop.
RESTART_DELAY_SECONDS = 0.2
UNAVAILABLE_STATUS = 503

logger = logging.getLogger(__name__)

_RETRYABLE = (ConnectionError, FileNotFoundError, asyncio.IncompleteReadError)


class MergeFailed(Exception):
    """The merger answered with an error: its merge raised."""


class Merger:
    """A merger process for `multiprocess_dir` on a socket in a private directory, kept running
    by a thread until `stop()`. Its stdin is a pipe from this process: it exits with us."""

    def __init__(self, multiprocess_dir: str) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.private_dir = tempfile.mkdtemp(prefix="app-instrumentation-merger-")
        self.socket_path = os.path.join(self.private_dir, SOCKET_NAME)
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._keep_running, name="merger", daemon=True)

    def start(self) -> "Merger":
        self._spawn()
        self._thread.start()
        return self

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            command = [sys.executable, "-m", "app_instrumentation.merger"]
            self.process = subprocess.Popen(
                [*command, self.multiprocess_dir, self.socket_path], stdin=subprocess.PIPE
            )

    def _keep_running(self) -> None:
        while not self._stopping.is_set():
            returncode = self.process.wait()
            self.process.stdin.close()
            if self._stopping.wait(RESTART_DELAY_SECONDS):
                return
            logger.error(
                "metrics merger (pid %s) exited with %s; restarting it",
                self.process.pid,
                returncode,
            )
            self._spawn()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            if self.process.poll() is None:
                self.process.kill()
        if self.process is not None:
            self.process.stdin.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        shutil.rmtree(self.private_dir, ignore_errors=True)


def start_service_merger(multiprocess_dir: str) -> Merger:
    """In the Sanic main process, before workers are spawned: they inherit the socket's path."""
    merger = Merger(multiprocess_dir).start()
    os.environ[MERGER_SOCKET_ENV_VAR] = merger.socket_path
    return merger


class MergerClient:
    """A worker's way to its merger: the service's, or one of its own when there is none."""

    def __init__(self, multiprocess_dir: str) -> None:
        self._multiprocess_dir = multiprocess_dir
        self._socket_path: str | None = None
        self._own_merger: Merger | None = None
        self._starting = asyncio.Lock()
        # Read (and checked) when the handler is built, at start: never first at a scrape.
        self.timeout = MERGE_TIMEOUT_SECONDS.read()

    async def render(self, accept: str, accept_encoding: str) -> tuple[bytes, str, dict]:
        """(body, content type, headers); raises TimeoutError, MergeFailed or a connection error."""
        socket_path = self._socket_path or await self._find_merger()
        request = json.dumps({"accept": accept, "accept_encoding": accept_encoding}).encode()
        async with asyncio.timeout(self.timeout):
            try:
                return await self._exchange(socket_path, request + b"\n")
            except _RETRYABLE:
                # The merger died during the exchange: its replacement answers this scrape.
                return await self._exchange(socket_path, request + b"\n")

    async def _find_merger(self) -> str:
        """The service's merger socket, read at the first scrape (a main process sets it before
        spawning workers); without one, a merger of this process's own."""
        async with self._starting:
            if self._socket_path is None:
                self._socket_path = os.environ.get(MERGER_SOCKET_ENV_VAR)
            if self._socket_path is None:
                # From a thread: Popen forks, and the event loop keeps serving meanwhile.
                self._own_merger = await asyncio.to_thread(Merger(self._multiprocess_dir).start)
                # Its private directory goes with this process; the merger follows its stdin.
                atexit.register(self._own_merger.stop)
                self._socket_path = self._own_merger.socket_path
            return self._socket_path

    async def _exchange(self, socket_path: str, request: bytes) -> tuple[bytes, str, dict]:
        reader, writer = await self._connect(socket_path)
        try:
            writer.write(request)
            await writer.drain()
            line = await reader.readline()
            if not line:
                raise asyncio.IncompleteReadError(b"", None)
            answer = json.loads(line)
            if "error" in answer:
                raise MergeFailed(answer["error"])
            body = await reader.readexactly(answer["length"])
            return body, answer["content_type"], answer["headers"]
        finally:
            writer.close()

    @staticmethod
    async def _connect(socket_path: str):
        """Connect, waiting while the merger is being (re)started (no socket yet, or refused):
        the caller's timeout bounds the wait."""
        while True:
            try:
                return await asyncio.open_unix_connection(socket_path)
            except (FileNotFoundError, ConnectionRefusedError):
                await asyncio.sleep(CONNECT_RETRY_SECONDS)


def make_metrics_handler(path: str, policy: AccessPolicy):
    """Build the Sanic handler serving the merged metrics of `path`."""
    client = MergerClient(path)

    async def metrics(request: Request) -> HTTPResponse:
        status = policy.status_for(request.ip, request.headers.get("authorization"))
        if status == 401:
            return HTTPResponse(
                "unauthorized\n", status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        if status == 403:
            return HTTPResponse("forbidden\n", status=403)
        try:
            body, content_type, headers = await client.render(
                request.headers.get("accept", ""), request.headers.get("accept-encoding", "")
            )
        except TimeoutError:
            return HTTPResponse("metrics merge timed out\n", status=UNAVAILABLE_STATUS)
        except (*_RETRYABLE, OSError) as error:
            logger.error("metrics merger unreachable: %r", error)
            return HTTPResponse("metrics merger unavailable\n", status=UNAVAILABLE_STATUS)
        return HTTPResponse(body, headers=headers, content_type=content_type)

    return metrics
