"""A real `sanic --workers N` service on 127.0.0.1 for tests and the benchmark (or the same through
`python -m app_instrumentation.serve`, socket-activated if asked), and a small HTTP/1.1 load
client."""

import asyncio
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

# Installed editable from app_instrumentation/testkit: the apps it serves are in sibling folders.
APP_INSTRUMENTATION_DIR = Path(__file__).resolve().parents[3]
DEMO_DIR = APP_INSTRUMENTATION_DIR / "demo"
TESTS_DIR = APP_INSTRUMENTATION_DIR / "tests"
SANIC = Path(sys.executable).with_name("sanic")
DEMO_APP = "app.server:create_app"
INSTRUMENTED_FACTORY = "app_instrumentation.factory:create_app"
LAUNCHER_MODULE = "app_instrumentation.serve"
WORKER_READY_LOG = "Worker ready ["  # Sanic's line, once per worker that listens
SERVER_WORKER_PREFIX = "Sanic-Server-"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_multiprocess_dir() -> str:
    return tempfile.mkdtemp(prefix="app-instrumentation-test-", dir="/dev/shm")


def service_environment(multiprocess_dir: str | None, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("PROMETHEUS_", "METRICS_", "INSTRUMENTED_APP", "SANIC_", "APP_INSTRUMENTATION_")
        )
    }
    env["PYTHONPATH"] = os.pathsep.join([str(DEMO_DIR), str(TESTS_DIR)])
    env["INSTRUMENTED_APP"] = DEMO_APP
    if multiprocess_dir is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_dir
    env.update(extra)
    return env


def sanic_command(
    port: int, workers: int, factory: str = INSTRUMENTED_FACTORY, options: Sequence[str] = ()
) -> list[str]:
    return [
        str(SANIC),
        factory,
        "--factory",
        "--workers",
        str(workers),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        *options,
    ]


def launcher_command(target: str, workers: int, port: int | None) -> list[str]:
    """`python -m app_instrumentation.serve`; port None: serve from the socket systemd passes."""
    port_options = ["--port", str(port)] if port is not None else []
    return [sys.executable, "-m", LAUNCHER_MODULE, target, "--workers", str(workers), *port_options]


def socket_activated(command: Sequence[str], *, listen_fds: int = 1) -> list[str]:
    """`command` started as systemd starts a socket-activated service: Popen's stdin (the
    listening socket) as fd 3, stdin from /dev/null, LISTEN_FDS, LISTEN_PID its own pid (exec)."""
    script = f'LISTEN_PID=$$ LISTEN_FDS={listen_fds} exec "$@" 3<&0 0</dev/null'
    return ["sh", "-c", script, "sh", *command]


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (children of every thread), as /proc shows them now."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                pending += [int(child) for child in (task / "children").read_text().split()]
    return found


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_exposition(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def request_counts(samples: Samples) -> dict[tuple[str, str, str], float]:
    """(route, method, status) -> requests, from the duration histogram's _count."""
    counts = {}
    for (name, labels), value in samples.items():
        if name == "http_server_request_duration_seconds_count":
            label = dict(labels)
            key = (
                label["http_route"],
                label["http_request_method"],
                label["http_response_status_code"],
            )
            counts[key] = value
    return counts


class SanicService:
    """Starts the demo app (or another) behind the zero-change factory; always cleans up.

    The benchmark also serves its apps through here: `factory` another `sanic --factory` target,
    `sanic_options` more command-line options, `seed_dir` a directory whose files the fresh
    multiprocess directory starts with, `multiprocess=False` no PROMETHEUS_MULTIPROC_DIR at all.
    `launcher=True` starts `factory` through app_instrumentation.serve instead of the sanic CLI;
    `listen_socket` (with it) is a listening socket the test holds, as systemd would, and passes.
    """

    def __init__(
        self,
        workers: int = 4,
        scrape_headers: dict[str, str] | None = None,
        *,
        factory: str = INSTRUMENTED_FACTORY,
        sanic_options: Sequence[str] = (),
        seed_dir: Path | None = None,
        multiprocess: bool = True,
        launcher: bool = False,
        listen_socket: socket.socket | None = None,
        **env: str,
    ):
        self.workers = workers
        self.scrape_headers = scrape_headers or {}
        self.factory = factory
        self.sanic_options = sanic_options
        self.seed_dir = seed_dir
        self.launcher = launcher
        self.listen_socket = listen_socket
        self.port = listen_socket.getsockname()[1] if listen_socket else free_port()
        # Made even without multiprocess: the log sits beside it and both go at stop.
        self.multiprocess_dir = fresh_multiprocess_dir()
        self.log_path = Path(self.multiprocess_dir + ".log")
        self._env = service_environment(self.multiprocess_dir if multiprocess else None, **env)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "SanicService":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        if self.seed_dir is not None:
            shutil.copytree(self.seed_dir, self.multiprocess_dir, dirs_exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self._command(),
                env=self._env,
                stdin=self.listen_socket.fileno() if self.listen_socket else None,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_for_live_workers(self.workers, START_TIMEOUT)

    def _command(self) -> list[str]:
        if not self.launcher:
            return sanic_command(self.port, self.workers, self.factory, self.sanic_options)
        if self.listen_socket is None:
            return launcher_command(self.factory, self.workers, self.port)
        command = launcher_command(self.factory, self.workers, port=None)
        return socket_activated(command)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self._kill_leftovers()
        shutil.rmtree(self.multiprocess_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)

    def _kill_leftovers(self) -> None:
        # Workers share the session; anything still in it after the main process is gone goes too.
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, timeout: float = 10
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def scrape(self) -> Samples:
        status, _, body = self.request("GET", "/metrics", self.scrape_headers)
        assert status == 200, body
        return parse_exposition(body.decode())

    def _ready(self, workers: int) -> bool:
        if self.factory != INSTRUMENTED_FACTORY:
            # No workers gauge to read; and before every worker listens, the first would take
            # all of a load generator's connections.
            all_listen = self.log().count(WORKER_READY_LOG) >= workers
            return all_listen and self.request("GET", "/")[0] == 200
        status, _, body = self.request("GET", "/metrics", self.scrape_headers)
        if status == 403:
            # Metrics closed to this client: a served request is all a test can wait for.
            return self.request("GET", "/")[0] == 200
        samples = parse_exposition(body.decode()) if status == 200 else {}
        return samples.get(("sanic_workers_live", frozenset())) == workers

    def wait_for_live_workers(self, workers: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self._ready(workers):
                    return
            time.sleep(0.1)
        raise TimeoutError(f"not {workers} live workers after {timeout}s:\n{self.log()}")

    def worker_pids(self) -> dict[str, int]:
        """Live server workers: Sanic process name -> pid, read from /proc."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        workers = {}
        for pid in map(int, children.split()):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):  # exited; a zombie has no environ
                continue
            for entry in environ:
                name = entry.decode().partition("SANIC_WORKER_NAME=")[2]
                if name.startswith(SERVER_WORKER_PREFIX) and state != "Z":
                    workers[name] = pid
        return workers


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns (status, connection stays open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection", "keep-alive").lower() != "close"


def _request_bytes(method: str, path: str) -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def send_requests(
    port: int, requests: list[tuple[str, str]], connections: int, pipeline: int = 1
) -> list[int]:
    """Send every (method, path) once over `connections` keep-alive connections; return statuses.

    With pipeline > 1 each connection writes that many requests before reading their responses.
    """
    queue = list(reversed(requests))
    statuses: list[int] = []

    async def connection_loop() -> None:
        reader = writer = None
        while queue:
            batch = [queue.pop() for _ in range(min(pipeline, len(queue)))]
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"".join(_request_bytes(method, path) for method, path in batch))
            await writer.drain()
            keep_alive = True
            for _ in batch:
                status, keep_alive = await _read_response(reader)
                statuses.append(status)
            if not keep_alive:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection_loop() for _ in range(connections)))
    return statuses


async def disconnect_during(port: int, path: str, after: float) -> None:
    """Send a request and close the connection before the response arrives."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_request_bytes("GET", path))
    await writer.drain()
    await asyncio.sleep(after)
    writer.close()
    await writer.wait_closed()
