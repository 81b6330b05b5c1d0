"""Past its capacity a worker answers `/v1` requests 503 with `Retry-After` at once, before
any work; Cal.com's deliveries and the health checks are never shed."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import create_async_engine

from scheduling_service.config import Settings
from tests.conftest import Tokens
from tests.factories import (
    assert_problem,
    book,
    create_application,
    create_cohort,
    create_org,
)
from tests.locks import ROW_OF_APPLICATION, held, waiting_on_locks

# Real commits (tests/conftest.py): requests at once, and a pool exhausted on purpose
pytestmark = pytest.mark.commits

QUEUE_TIMEOUT_SECONDS = 0.2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "api_max_concurrent_requests": 1,
            "api_queue_timeout_seconds": QUEUE_TIMEOUT_SECONDS,
        }
    )


async def _waiting_on_a_lock(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        for _ in range(200):
            async with engine.connect() as connection:
                waiting = await waiting_on_locks(connection)
            if waiting:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the status move never waited on the held row")
    finally:
        await engine.dispose()


@asynccontextmanager
async def _status_move_held(
    client: AsyncClient, database_url: str, application: dict[str, Any], headers: dict[str, str]
) -> AsyncIterator[asyncio.Task[Response]]:
    """A status move of `application` in flight, waiting on its row, which another connection
    holds until the block ends."""
    async with held(database_url, ROW_OF_APPLICATION, {"id": application["id"]}):
        move = asyncio.create_task(
            client.post(
                f"/v1/applications/{application['id']}/status",
                json={"status": "under_review"},
                headers=headers,
            )
        )
        await _waiting_on_a_lock(database_url)
        yield move


async def test_a_request_past_capacity_is_shed_and_the_webhook_and_health_are_not(
    client: AsyncClient, tokens: Tokens, database_url: str
) -> None:
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])
    held = await create_application(client, tokens, cohort, email="held@example.org", status=None)
    await create_application(client, tokens, cohort, email="booker@example.org", status=None)
    admin = tokens("admin", org["id"])
    applications = f"/v1/cohorts/{cohort['id']}/applications"

    # The status move waits on the held row, holding the worker's one API slot.
    async with _status_move_held(client, database_url, held, admin) as move:
        shed = await client.get(applications, headers=admin)
        booked: dict[str, Any] = await book(client, cohort, email="booker@example.org")
        health = await client.get("/healthz")
    moved = await move

    body = assert_problem(shed, 503, "service-unavailable")
    assert body["detail"] == "the service is at capacity; retry later"
    assert shed.headers["Retry-After"] == "1"
    assert booked["outcome"] == "matched"
    assert health.status_code == 200
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "under_review"
    after = await client.get(applications, headers=admin)
    assert after.status_code == 200
    assert len(after.json()["items"]) == 2


class TestPoolExhausted:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        # The API admits more requests than the pool has connections.
        return settings.model_copy(
            update={
                "database_pool_size": 1,
                "database_pool_timeout_seconds": 0.2,
                "api_max_concurrent_requests": 10,
            }
        )

    async def test_a_request_that_gets_no_connection_in_time_is_answered_503(
        self, client: AsyncClient, tokens: Tokens, database_url: str
    ) -> None:
        org = await create_org(client, tokens)
        cohort = await create_cohort(client, tokens, org["id"])
        held = await create_application(
            client, tokens, cohort, email="held@example.org", status=None
        )
        admin = tokens("admin", org["id"])

        # The waiting status move holds the pool's one connection.
        async with _status_move_held(client, database_url, held, admin) as move:
            busy = await client.get(f"/v1/cohorts/{cohort['id']}/applications", headers=admin)
        moved = await move

        body = assert_problem(busy, 503, "service-unavailable")
        assert body["detail"] == "every database connection is busy; retry later"
        assert busy.headers["Retry-After"] == "5"
        assert moved.status_code == 200, moved.text


async def test_a_preflight_past_capacity_is_answered_and_the_refusal_is_readable(
    client: AsyncClient, tokens: Tokens, database_url: str
) -> None:
    org = await create_org(client, tokens)
    cohort = await create_cohort(client, tokens, org["id"])
    held = await create_application(client, tokens, cohort, email="held@example.org", status=None)
    admin = tokens("admin", org["id"])
    applications = f"/v1/cohorts/{cohort['id']}/applications"
    spa = "http://localhost:5173"  # a development default

    async with _status_move_held(client, database_url, held, admin) as move:
        preflight = await client.options(
            applications,
            headers={"Origin": spa, "Access-Control-Request-Method": "GET"},
        )
        shed = await client.get(applications, headers={"Origin": spa, **admin})
    await move

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == spa
    assert_problem(shed, 503, "service-unavailable")
    assert shed.headers["access-control-allow-origin"] == spa
    assert "retry-after" in shed.headers["access-control-expose-headers"].lower()
