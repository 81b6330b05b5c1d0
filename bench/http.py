"""A small HTTP/1.1 client over asyncio streams: keep-alive connections, nothing else.

The load generator shares two cores with the server and PostgreSQL, so it must cost little:
httpx spends several times the CPU per request that this does.
"""

import asyncio
from dataclasses import dataclass


class ConnectionLost(Exception):
    """The server closed the connection before it answered."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    retry_after: str | None = None


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, head: bytes, body: bytes) -> tuple[Answer, bool]:
        """Send one request; answers the response and whether the connection stays open."""
        self.writer.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.writer.write(body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionLost
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        keep = True
        retry_after = None
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
            elif name == b"retry-after":
                retry_after = value.strip().decode("latin-1")
            elif name == b"transfer-encoding":
                raise NotImplementedError("chunked answers are not expected here")
        content = await self.reader.readexactly(length) if length else b""
        return Answer(status, content, retry_after), keep

    def close(self) -> None:
        self.writer.close()


class Client:
    """At most `max_connections` requests at once; the rest wait for a connection (and that
    wait counts in their latency, as it would for Cal.com)."""

    def __init__(self, host: str, port: int, max_connections: int = 256) -> None:
        self.host = host
        self.port = port
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> Answer:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        async with self._slots:
            reused = bool(self._idle)
            connection = self._idle.pop() if reused else await self._connect()
            try:
                answer, keep = await connection.exchange(head, body)
            except (ConnectionLost, ConnectionResetError, asyncio.IncompleteReadError):
                connection.close()
                if not reused:
                    raise
                # A kept-alive connection the server had just closed: once more, on a new one.
                connection = await self._connect()
                answer, keep = await connection.exchange(head, body)
            except BaseException:
                connection.close()
                raise
            if keep:
                self._idle.append(connection)
            else:
                connection.close()
            return answer

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        return _Connection(reader, writer)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        await asyncio.sleep(0)
