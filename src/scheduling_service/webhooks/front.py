"""Cal.com's deliveries, answered without FastAPI's per-request machinery.

The route (`webhooks.router.receive_calcom_webhook`) is declared to FastAPI, which documents
it; this middleware, just inside the request telemetry, calls it directly for each delivery.
Its parameters need no validation (a path segment and an optional header, both strings), nor
its answer (the route builds it). Skipped: the API's middleware (admission, limits, CORS and
redirects, none of which acts on a delivery; a request with an `Origin` or an oversized query
string still goes through them, for CORS's headers and the 414), routing, dependency
resolution and response validation, which cost about 0.5 ms of CPU per delivery, a sixth of
it (bench/RESULTS.md, issue 16). Errors are answered by the app's own problem handlers, as
from any route.
"""

from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from scheduling_service.limits import MAX_QUERY_STRING_BYTES
from scheduling_service.webhooks.router import WEBHOOK_PATH_PREFIX, receive_calcom_webhook, router

_SIGNATURE_HEADER = "x-cal-signature-256"
_BODY_HEADERS = {b"content-type", b"content-length"}
# The route FastAPI would have matched: the telemetry labels requests by its path.
_ROUTE = next(
    route
    for route in router.routes
    if isinstance(route, APIRoute) and route.endpoint is receive_calcom_webhook
)


class WebhookFront:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        cohort_id = path[len(WEBHOOK_PATH_PREFIX) :] if path.startswith(WEBHOOK_PATH_PREFIX) else ""
        headers = dict(scope["headers"])
        if (
            not cohort_id
            or "/" in cohort_id
            or b"origin" in headers
            or len(scope["query_string"]) > MAX_QUERY_STRING_BYTES
        ):
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        scope["route"] = _ROUTE
        request = Request(scope, receive)
        response = Response()
        try:
            answer = await receive_calcom_webhook(
                cohort_id, request, response, request.headers.get(_SIGNATURE_HEADER)
            )
        except Exception as error:
            handler = _handler_for(app, error)
            if handler is None:
                raise  # the app's handler of unexpected errors answers, outside
            refusal = await handler(request, error)
            await refusal(scope, receive, send)
            return
        body = answer.model_dump_json().encode()
        # Any header the route sets goes out, as FastAPI would send it; the body is ours.
        extra = [(k, v) for k, v in response.raw_headers if k not in _BODY_HEADERS]
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code or 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _handler_for(app: Any, error: Exception) -> Any:
    """The app's handler of this kind of error (as Starlette's exception middleware looks it
    up); None for an unexpected one."""
    handlers: dict[Any, Any] = app.exception_handlers
    for kind in type(error).__mro__:
        if kind is Exception:
            return None
        if kind in handlers:
            return handlers[kind]
    return None
