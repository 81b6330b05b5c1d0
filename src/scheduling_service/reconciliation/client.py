"""A client for Cal.com's API v2 bookings list (`GET /v2/bookings`, version 2024-08-13).

What it relies on (README, "Reconciliation with Cal.com"): a bearer API key, the
`cal-api-version` header, the filters `afterUpdatedAt`/`afterCreatedAt`, `attendeeEmail` and
`eventTypeIds`,
sorting by `sortUpdatedAt`/`sortCreated`, `take`/`skip` pagination, and the answer
`{"status": "success", "data": [...], "pagination": {..., "hasNextPage"}}`. A 429 waits as
long as `Retry-After` says; 5xx answers and timeouts are retried with exponential backoff; a
401 or 403 means the key was refused, and is never retried.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from scheduling_service.backoff import exponential_backoff

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.cal.com"
API_VERSION = "2024-08-13"
PAGE_SIZE = 100  # Cal.com accepts 1 to 250 (`take`); its default is 100.
MAX_RETRY_AFTER_SECONDS = 300.0


class CalcomApiError(Exception):
    """Cal.com could not be asked, after the retries (or answered something unusable)."""


class KeyRejected(CalcomApiError):
    """Cal.com refused the API key (401 or 403)."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float


Sleep = Callable[[float], Awaitable[None]]


class CalcomClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        retry: RetryPolicy,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "cal-api-version": API_VERSION},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        self._retry = retry
        self._sleep = sleep
        self.requests = 0

    async def __aenter__(self) -> "CalcomClient":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    async def bookings_changed_since(
        self, since: datetime, event_type_ids: list[int]
    ) -> list[dict[str, Any]]:
        """Every booking created or updated after `since`, each once.

        Asked twice, by `afterUpdatedAt` and by `afterCreatedAt`: a booking never updated may
        have no `updatedAt` (the column is nullable in Cal.com's schema).
        """
        found: dict[str, dict[str, Any]] = {}
        moment = since.astimezone(UTC).isoformat().replace("+00:00", "Z")
        for time_filter, sort in (
            ("afterUpdatedAt", "sortUpdatedAt"),
            ("afterCreatedAt", "sortCreated"),
        ):
            params: dict[str, str] = {time_filter: moment, sort: "asc"}
            if event_type_ids:
                params["eventTypeIds"] = ",".join(str(i) for i in event_type_ids)
            for booking in await self._all_pages(params):
                uid = booking.get("uid")
                if isinstance(uid, str):
                    found[uid] = booking
        return list(found.values())

    async def bookings_of_attendee(
        self, email: str, event_type_ids: list[int]
    ) -> list[dict[str, Any]]:
        """Every booking listing `email` among its attendees (`attendeeEmail`)."""
        params = {"attendeeEmail": email}
        if event_type_ids:
            params["eventTypeIds"] = ",".join(str(i) for i in event_type_ids)
        return await self._all_pages(params)

    async def _all_pages(self, params: dict[str, str]) -> list[dict[str, Any]]:
        bookings: list[dict[str, Any]] = []
        skip = 0
        while True:
            page = await self._get(
                "/v2/bookings", {**params, "take": str(PAGE_SIZE), "skip": str(skip)}
            )
            data = page.get("data")
            if not isinstance(data, list):
                raise CalcomApiError("Cal.com's bookings answer has no `data` list")
            bookings.extend(item for item in data if isinstance(item, dict))
            pagination = page.get("pagination")
            has_next = isinstance(pagination, dict) and pagination.get("hasNextPage") is True
            if not has_next or not data:
                return bookings
            skip += len(data)

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        attempt = 0
        while True:
            attempt += 1
            self.requests += 1
            try:
                answer = await self._http.get(path, params=params)
            except httpx.InvalidURL as error:
                raise CalcomApiError(f"the base URL cannot be used: {error}") from None
            except httpx.TransportError as error:  # timeouts, refused connections, resets
                problem = f"{type(error).__name__}: {error}"
                wait = self._backoff(attempt)
            else:
                if answer.status_code in (401, 403):
                    raise KeyRejected(f"Cal.com refused the API key ({answer.status_code})")
                if answer.is_success:
                    try:
                        document = answer.json()
                    except ValueError:
                        raise CalcomApiError("Cal.com answered with something not JSON") from None
                    if not isinstance(document, dict):
                        raise CalcomApiError("Cal.com answered with something not an object")
                    return document
                if answer.status_code != 429 and answer.status_code < 500:
                    raise CalcomApiError(
                        f"Cal.com answered {answer.status_code}: {answer.text[:300]}"
                    )
                problem = f"Cal.com answered {answer.status_code}"
                wait = self._backoff(attempt)
                if answer.status_code == 429:
                    wait = _retry_after(answer) or wait
            if attempt >= self._retry.max_attempts:
                raise CalcomApiError(f"{problem} ({attempt} attempts)")
            logger.warning("%s; asking again in %.1f s", problem, wait)
            await self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return exponential_backoff(
            attempt, base_seconds=self._retry.base_seconds, max_seconds=self._retry.max_seconds
        ).total_seconds()


def _retry_after(answer: httpx.Response) -> float | None:
    """`Retry-After` in seconds (RFC 9110: a number of seconds, or an HTTP date)."""
    value = answer.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
