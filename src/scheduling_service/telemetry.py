"""Per-request telemetry: the request ID, one JSON log line and the HTTP metrics.

A plain ASGI middleware rather than Starlette's BaseHTTPMiddleware, so streamed bodies pass
through untouched and the request ID context variable is visible to the route's own logs.
"""

import logging
import time

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduling_service import logs, metrics, problems

logger = logging.getLogger("scheduling_service.requests")

# Paths no route matched are counted under one label: raw paths would let any client create
# series without bound.
UNMATCHED_ROUTE = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path: str | None = getattr(route, "path", None) if isinstance(route, BaseRoute) else None
    return path or UNMATCHED_ROUTE


class RequestTelemetry:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(logs.REQUEST_ID_HEADER.lower().encode())
        request_id = logs.request_id_from(incoming.decode("latin-1") if incoming else None)
        # The problem handlers answer 500s outside this middleware; they read the ID here.
        scope.setdefault("state", {})["request_id"] = request_id
        token = logs.request_id.set(request_id)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (logs.REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            if status is None:
                # Starlette answers it outside this middleware, with the status this names.
                status = problems.unexpected_error_status(error)
            raise
        finally:
            # No status at all: the client went away, or the server stopped, mid-request.
            self._record(scope, status or 499, time.perf_counter() - started)
            logs.request_id.reset(token)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        method: str = scope["method"] if scope["method"] in _METHODS else "other"
        route = route_template(scope)
        metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
        metrics.HTTP_REQUEST_DURATION.labels(method, route).observe(seconds)
        logger.info(
            "request",
            extra={
                "fields": {
                    "method": method,
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                }
            },
        )
