"""Runs `scheduling-service serve` as a real process, exactly as a user starts it."""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h11
import httpx

BIN = Path(sys.executable).parent
# The suite's HS256 secret, shared by its apps and its server processes (tests/conftest.py).
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-keys"
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, **extra)
    return env


class ServiceProcess:
    """One server process on a fixed loopback port; it can be stopped, killed and restarted.

    Output goes to a file, never a pipe: a pipe nobody reads would block a chatty server.
    """

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="scheduling-service-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [str(BIN / "scheduling-service"), "serve", "--host", "127.0.0.1"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
            try:
                healthy = httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
                if healthy and self._workers_started():
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not become healthy:\n{self.output()}")
            time.sleep(0.1)

    def _workers_started(self) -> bool:
        """Every worker finished starting, not only the one that answered: a busy machine
        may start the second long after the first (its metrics missing from a scrape)."""
        output = self.output()
        announced = re.search(r"\((\d+) workers?\)", output)
        workers = int(announced.group(1)) if announced else 1
        return output.count("Application startup complete.") >= workers

    def __enter__(self) -> "ServiceProcess":
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)

    def stop(self) -> int:
        """SIGTERM, as an orchestrator stops it; answers the exit code."""
        return self._end(signal.SIGTERM)

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _end(self, how: signal.Signals) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(how)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_service(
    database_url: str, tmp_path: Path | None = None, **settings: str
) -> ServiceProcess:
    """`scheduling-service serve` on `database_url` with the suite's JWT secret (and its
    journal under `tmp_path`), started and healthy; stop it, or use it in a `with`."""
    if tmp_path is not None:
        settings = {"JOURNAL_DIR": str(tmp_path / "journal"), **settings}
    server = ServiceProcess(service_env(database_url, JWT_SECRET=JWT_SECRET, **settings))
    server.start()
    return server


@contextmanager
def running_server(env: dict[str, str]) -> Iterator[str]:
    """Start the server on a free loopback port; yield its base URL; stop it."""
    with ServiceProcess(env) as server:
        yield server.base_url


async def pipelined(port: int, requests: list[bytes], connections: int) -> Counter[int]:
    """Send raw HTTP/1.1 requests, pipelined over `connections` keep-alive connections (so
    the client costs next to nothing); answers how many got each status."""
    statuses: Counter[int] = Counter()
    shares = [requests[n::connections] for n in range(connections)]

    async def send(share: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        parser = _answer_parser(b"")
        try:
            writer.write(b"".join(share))
            await writer.drain()
            answered = 0
            while answered < len(share):
                event = parser.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    if not data:
                        raise ConnectionError(f"closed after {answered} answers")
                    parser.receive_data(data)
                elif isinstance(event, h11.Response):
                    statuses[event.status_code] += 1
                elif isinstance(event, h11.EndOfMessage):
                    answered += 1
                    # h11 tracks one exchange at a time; the client's side was sent raw.
                    parser = _answer_parser(parser.trailing_data[0])
        finally:
            writer.close()

    await asyncio.gather(*(send(share) for share in shares if share))
    return statuses


def _answer_parser(received: bytes) -> h11.Connection:
    parser = h11.Connection(h11.CLIENT)
    # A client parser reads an answer only once it has sent a request itself.
    parser.send(h11.Request(method="POST", target="/", headers=[("Host", "x")]))
    parser.send(h11.EndOfMessage())
    if received:  # empty would mean the connection closed
        parser.receive_data(received)
    return parser
