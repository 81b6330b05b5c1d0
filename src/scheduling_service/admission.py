"""Load shedding for the `/v1` API: past its capacity it answers 503 at once, never late.

Each worker admits at most `api_max_concurrent_requests` API requests at a time; one that is
not admitted within `api_queue_timeout_seconds` is answered 503 (`service-unavailable`) with
`Retry-After`, before its body is read or a database connection is asked for. So a flood of
API requests neither waits out the database pool's timeout nor crowds Cal.com's deliveries
out of the pool. The webhook is never shed (Cal.com does not retry: a delivery the database
cannot take in time goes to the journal), nor are health, metrics and the OpenAPI document.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import ASGIApp, Receive, Scope, Send

from scheduling_service import metrics, problems
from scheduling_service.errors import Unavailable

API_PATH_PREFIX = "/v1/"
RETRY_AFTER_SECONDS = 1


class ApiAdmission:
    def __init__(self, app: ASGIApp, *, max_concurrent: int, queue_timeout: float) -> None:
        self.app = app
        self.gate = Gate(max_concurrent, queue_timeout, "the service is at capacity; retry later")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PATH_PREFIX):
            await self.app(scope, receive, send)
            return
        async with contextlib.AsyncExitStack() as admitted:
            try:
                await admitted.enter_async_context(self.gate.enter())
            except Unavailable as refused:
                # Answered here, outside the app and its exception handlers.
                refusal = problems.problem_response(
                    problems.UNAVAILABLE,
                    refused.detail,
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
                await refusal(scope, receive, send)
                return
            await self.app(scope, receive, send)


class Gate:
    """At most `limit` holders at a time in this worker, for work too heavy to run as many
    times at once as the API admits requests; one that waits its turn longer than `timeout`
    is refused with `Unavailable` (503 and `Retry-After`)."""

    def __init__(self, limit: int, timeout: float, refusal: str) -> None:
        self.timeout = timeout
        self.refusal = refusal
        self.slots = asyncio.Semaphore(limit)

    @asynccontextmanager
    async def enter(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.timeout):
                await self.slots.acquire()
        except TimeoutError:
            metrics.API_REQUESTS_SHED.inc()
            raise Unavailable(self.refusal) from None
        try:
            yield
        finally:
            self.slots.release()
