"""Request size limits, enforced before any route runs.

A query string over `MAX_QUERY_STRING_BYTES` answers 414 and a body over the API limit 413,
both as problem documents, so no route, validator or JSON parser ever sees oversized input.
The webhook is exempt from the body limit: Cal.com's deliveries may be up to 1 MiB (SPEC
section 3) and its route enforces that limit itself, after checking the content type.
"""

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduling_service import problems

MAX_QUERY_STRING_BYTES = 8 * 1024
WEBHOOK_PATH_PREFIX = "/webhooks/"


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope["query_string"]) > MAX_QUERY_STRING_BYTES:
            refusal = problems.problem_response(
                problems.URI_TOO_LONG, f"the query string is over {MAX_QUERY_STRING_BYTES} bytes"
            )
            await refusal(scope, receive, send)
            return
        if scope["path"].startswith(WEBHOOK_PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read_body(scope, receive)
        except _ClientGone:
            return  # nobody is left to answer, and a partial body must not be acted on
        if body is None:
            refusal = problems.problem_response(
                problems.PAYLOAD_TOO_LARGE, f"the body is over {self.max_body_bytes} bytes"
            )
            await refusal(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None once it is over the limit (declared or as it streams in)."""
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            return None
        # Read here, bounded, so a chunked body without Content-Length is capped all the same.
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                raise _ClientGone
            body.extend(message.get("body", b""))
            if len(body) > self.max_body_bytes:
                return None
            more = message.get("more_body", False)
        return bytes(body)


class _ClientGone(Exception):
    pass


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the client's own messages."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            message: dict[str, Any] = {"type": "http.request", "body": body, "more_body": False}
            return message
        return await receive()

    return replay


def document_limits(openapi: dict[str, Any]) -> None:
    """Add the answers of this middleware to the operations of an OpenAPI document: 413 to
    each one that takes a body, 414 to each one that takes query parameters."""
    too_large = problems.responses(problems.PAYLOAD_TOO_LARGE)
    too_long = problems.responses(problems.URI_TOO_LONG)
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.setdefault("responses", {})
            if "requestBody" in operation:
                for status, answer in too_large.items():
                    answers.setdefault(str(status), answer)
            if any(p.get("in") == "query" for p in operation.get("parameters", [])):
                for status, answer in too_long.items():
                    answers.setdefault(str(status), answer)
