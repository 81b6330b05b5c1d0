"""The floor: the least a server does for a delivery, under the service's own server settings.

A bare ASGI app that reads the body, verifies its signature, parses the JSON, computes the
event ID, and runs, in one transaction on a pool of 5 asyncpg connections, the statements the
service itself sent for a delivery of that kind (recorded from the service's code by
`bench.ceiling.capture`, with this delivery's values), then answers as the service does. What
the service spends per event beyond this is its own layers (`overhead` in `make bench`).

The bench writes each batch's statements to a file before sending it (outside the measured
window); every worker reloads the file when it changes. Each request names its place in the
batch (`X-Bench-Sequence`): exact copies of a delivery share its body and event ID, yet run
other statements than their original.
"""

import asyncio
import hashlib
import hmac
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn

POOL_SIZE = 5
Work = dict[int, tuple[str, list[tuple[str, tuple[Any, ...]]], str]]
"""By sequence: the event ID, its statements (SQL, parameters), the outcome to answer."""


class Floor:
    def __init__(self, dsn: str, secret: str, work_file: Path) -> None:
        self.dsn = dsn
        self.secret = secret.encode()
        self.work_file = work_file
        self.work: Work = {}
        self.loaded = 0.0
        self.pool: asyncpg.Pool | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        headers = dict(scope["headers"])
        if scope["method"] == "GET":
            await _answer(send, 200, b'{"status":"ok"}')
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(expected, headers.get(b"x-cal-signature-256", b"")):
            await _answer(send, 401, b'{"detail":"signature"}')
            return
        document = json.loads(body)
        uid = document["payload"]["uid"]
        key = f"{document['triggerEvent']}\n{uid}\n{document.get('createdAt') or ''}"
        event_id = hashlib.sha256(key.encode()).hexdigest()
        recorded_id, statements, outcome = self.work[int(headers[b"x-bench-sequence"])]
        if recorded_id != event_id:
            await _answer(send, 500, b'{"detail":"not the recorded event"}')
            return
        assert self.pool is not None
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                for sql, params in statements:
                    if params:
                        await connection.fetch(sql, *params)
                    else:
                        await connection.execute(sql)
        except asyncpg.PostgresError as error:
            await _answer(send, 500, json.dumps({"detail": str(error)}).encode())
            return
        await _answer(send, 200, f'{{"event_id":"{event_id}","outcome":"{outcome}"}}'.encode())

    async def _lifespan(self, receive: Any, send: Any) -> None:
        await receive()
        self.pool = await asyncpg.create_pool(self.dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        watching = asyncio.create_task(self._watch())
        await send({"type": "lifespan.startup.complete"})
        await receive()
        watching.cancel()
        await self.pool.close()
        await send({"type": "lifespan.shutdown.complete"})

    async def _watch(self) -> None:
        """Reload the work when the bench replaces its file (before each measured batch)."""
        while True:
            try:
                changed = self.work_file.stat().st_mtime
            except FileNotFoundError:
                changed = self.loaded
            if changed != self.loaded:
                self.work = pickle.loads(self.work_file.read_bytes())
                self.loaded = changed
            await asyncio.sleep(0.1)


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app() -> Floor:
    return Floor(
        os.environ["FLOOR_DSN"], os.environ["FLOOR_SECRET"], Path(os.environ["FLOOR_WORK_FILE"])
    )


class FloorProcess:
    """The floor app under uvicorn, in a process of its own (as the service runs)."""

    def __init__(self, dsn: str, secret: str, port: int, workers: int) -> None:
        self.port = port
        self.workers = workers
        self.directory = Path(tempfile.mkdtemp(prefix="bench-floor-"))
        self.work_file = self.directory / "work.pickle"
        self.env = dict(
            os.environ, FLOOR_DSN=dsn, FLOOR_SECRET=secret, FLOOR_WORK_FILE=str(self.work_file)
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.directory / "floor.log").open("ab")
        command = [sys.executable, "-m", "bench.floor", str(self.port), str(self.workers)]
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.directory / "floor.log").read_text()[-2000:])
            time.sleep(0.1)

    def give(self, work: Work) -> None:
        """Hand the workers the next batch's statements; they load them within 0.1 s."""
        staged = self.work_file.with_suffix(".new")
        staged.write_bytes(pickle.dumps(work))
        staged.replace(self.work_file)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    from scheduling_service.config import get_settings
    from scheduling_service.server import uvicorn_options

    port, workers = int(sys.argv[1]), int(sys.argv[2])
    # The service's server settings, with uvicorn's own protocol of the same implementation
    # (the service's guard against slow clients is one of its layers, measured in the overhead).
    options = uvicorn_options(get_settings(), guarded=False)
    uvicorn.run(
        "bench.floor:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        **options,
    )


if __name__ == "__main__":
    main()
