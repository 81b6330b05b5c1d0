"""API requests cannot starve Cal.com's deliveries of database connections (real server process).

Seen before: API requests and the webhook shared one pool and no statement had a time limit,
so 20 slow API requests of one member pushed webhook latency to a median of 21.7 s.
"""

import asyncio
import time

from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import create_async_engine

from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import assert_problem, create_application, create_cohort, create_org
from tests.locks import ROW_OF_APPLICATION, held, waiting_on_locks
from tests.security.conftest import served_process

API_POOL = 2
STATEMENT_TIMEOUT_MS = 1000
IN_FLIGHT = 20


async def test_api_statements_time_out_and_the_webhook_keeps_connections_of_its_own(
    client: AsyncClient, tokens: Tokens, database_url: str
) -> None:
    env = {
        "DATABASE_POOL_SIZE": str(API_POOL),
        "DATABASE_WEBHOOK_POOL_SIZE": "2",
        "DATABASE_POOL_TIMEOUT_SECONDS": "20",
        "API_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS),
        "API_MAX_CONCURRENT_REQUESTS": str(IN_FLIGHT),
        "API_QUEUE_TIMEOUT_SECONDS": "20",
    }
    async with served_process(database_url, **env) as served:
        org = await create_org(served, tokens)
        cohort = await create_cohort(served, tokens, org["id"])
        locked = await create_application(served, tokens, cohort, email="held@example.org")
        await create_application(served, tokens, cohort, email="booker@example.org")
        admin = tokens("admin", org["id"])

        async def move() -> tuple[Response, float]:
            started = time.monotonic()
            response = await served.post(
                f"/v1/applications/{locked['id']}/status",
                json={"status": "under_review"},
                headers=admin,
            )
            return response, time.monotonic() - started

        # Each look its own transaction: PostgreSQL keeps one view of the activity per transaction.
        watcher = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            async with (
                held(database_url, ROW_OF_APPLICATION, {"id": locked["id"]}),
                watcher.connect() as watching,
            ):
                moves = [asyncio.create_task(move()) for _ in range(IN_FLIGHT)]
                # Every API connection of the server waits on the held row, the rest of the
                # requests wait for one of them.
                for _ in range(200):
                    if await waiting_on_locks(watching) == API_POOL:
                        break
                    await asyncio.sleep(0.02)
                assert await waiting_on_locks(watching) == API_POOL

                started = time.monotonic()
                delivered = await deliver(served, cohort, booking(email="booker@example.org"))
                webhook_seconds = time.monotonic() - started

                answered = await asyncio.gather(*moves)
        finally:
            await watcher.dispose()

        moved = await served.post(
            f"/v1/applications/{locked['id']}/status",
            json={"status": "under_review"},
            headers=admin,
        )

    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["outcome"] == "matched"
    assert webhook_seconds < 1.0, webhook_seconds
    for response, seconds in answered:
        body = assert_problem(response, 503, "service-unavailable")
        assert body["detail"] == "the database took too long to answer; retry later"
        assert int(response.headers["Retry-After"]) >= 1
        # Each waited its turn for one of the API's connections, then its own second.
        assert seconds < (IN_FLIGHT / API_POOL + 2) * STATEMENT_TIMEOUT_MS / 1000, seconds
    # Nothing was lost: once the row is free, the move goes through.
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "under_review"
