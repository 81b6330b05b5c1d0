"""Uvicorn's h11 protocol, with what it lacks against idle and slow clients.

- A request head must arrive whole within `SERVER_HEADER_TIMEOUT_SECONDS` of its first byte
  (or of the connection), and its body within `SERVER_BODY_TIMEOUT_SECONDS` of the head;
  otherwise the connection is closed. Idle keep-alive connections keep uvicorn's own timeout.
- `SERVER_LIMIT_CONCURRENCY` counts requests in progress, not connections: uvicorn counts
  every open connection, so 1,000 sockets holding half a request head shut everyone out.
  Connections waiting for a head cost a few kilobytes each and the head timeout ends them.
- `SERVER_MAX_HEADER_BYTES` holds for a whole head too: h11 bounds only what it buffers of an
  incomplete one (400), so a larger head arriving in one read is refused here (431).
- Memory that half-sent bodies took is given back (`give_back_large_blocks`).
"""

import asyncio
import contextlib
import ctypes
import logging
from typing import Any

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from scheduling_service import metrics
from scheduling_service.config import Settings, get_settings

logger = logging.getLogger(__name__)


def uvicorn_options(settings: Settings, *, guarded: bool = True) -> dict[str, Any]:
    """How uvicorn serves the app: its HTTP protocol and limits. `guarded=False`: uvicorn's
    own protocol of the same implementation, without the guard (the bench's floor)."""
    return {
        # h11 rather than httptools: only h11 bounds the request line and headers (httptools
        # buffers headers of any size), so an oversized head is refused with a 400. Its
        # protocol gains timeouts for slow heads and bodies (above). Named, not imported.
        "http": "scheduling_service.server:GuardedH11Protocol" if guarded else "h11",
        "h11_max_incomplete_event_size": settings.server_max_header_bytes,
        "timeout_keep_alive": settings.server_timeout_keep_alive,
        "limit_concurrency": settings.server_limit_concurrency,
        "server_header": False,
    }


class GuardedH11Protocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.header_timeout = settings.server_header_timeout_seconds
        self.body_timeout = settings.server_body_timeout_seconds
        limit = self.limit_concurrency
        # uvicorn's own check counts idle connections; ours counts requests (see above).
        self.limit_concurrency = None
        self.app = _Guard(self.app, self.tasks, limit, settings.server_max_header_bytes)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiting_for == "body":
            # Its buffers are freed once the route sees the client gone: give them back.
            _trim_soon(self.loop)
        self._set_deadline(None)
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Keep one deadline for the part of the request being received, if any."""
        state = self.conn.their_state
        if state is h11.IDLE:
            # Between requests uvicorn's keep-alive timer runs; else a head is awaited.
            self._set_deadline(None if self.timeout_keep_alive_task else "head")
        elif state is h11.SEND_BODY:
            self._set_deadline("body")
        else:
            self._set_deadline(None)

    def _set_deadline(self, part: str | None) -> None:
        if part == self._waiting_for:
            return  # a deadline runs from the start of its part, not from the last byte
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._waiting_for = part
        if part is not None and self.transport is not None and not self.transport.is_closing():
            seconds = self.header_timeout if part == "head" else self.body_timeout
            self._deadline = self.loop.call_later(seconds, self._expire, part)

    def _expire(self, part: str) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        metrics.HTTP_CONNECTIONS_TIMED_OUT.labels(part).inc()
        logger.debug("closed a connection: request %s incomplete after its timeout", part)
        # A route waiting for the body sees the client as gone (`http.disconnect`).
        self.transport.close()


# glibc's M_MMAP_THRESHOLD, and its default value.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 128 * 1024


def give_back_large_blocks() -> None:
    """Keep every block over 128 KiB (a webhook body being read) in a mapping of its own,
    returned to the system when freed.

    glibc raises that threshold each time such a block is freed, up to 32 MiB; after which
    bodies come from the heap, which fragments and is kept: 600 half-sent bodies left a
    worker 255 MiB larger for good. Setting the threshold turns that adjustment off.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: other allocators give large blocks back as they are
    libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


_trim: asyncio.TimerHandle | None = None


def _trim_soon(loop: asyncio.AbstractEventLoop) -> None:
    """Hand freed heap pages back to the system a moment from now (once for many closes):
    glibc keeps them otherwise, and 600 half-sent bodies left 100 MiB more for good."""
    global _trim
    if _trim is None:
        _trim = loop.call_later(1.0, _trim_now)


def _trim_now() -> None:
    global _trim
    _trim = None
    with contextlib.suppress(OSError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _Guard:
    """In front of the app: the request limit, and the size of the whole head."""

    def __init__(self, app: ASGIApp, tasks: set[Any], limit: int | None, max_head: int) -> None:
        self.app = app
        self.tasks = tasks
        self.limit = limit
        self.max_head = max_head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if _head_size(scope) > self.max_head:
                await _plain(send, 431, b"Request Header Fields Too Large")
                return
            # This request's task is among them already.
            if self.limit is not None and len(self.tasks) > self.limit:
                await _plain(send, 503, b"Service Unavailable")
                return
        await self.app(scope, receive, send)


def _head_size(scope: Scope) -> int:
    """The request line and headers as sent, give or take optional whitespace."""
    query = scope["query_string"]
    line = len(scope["method"]) + len(scope["raw_path"]) + (len(query) + 1 if query else 0) + 12
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"]) + 2


async def _plain(send: Send, status: int, text: bytes) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(text)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
