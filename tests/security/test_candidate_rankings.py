"""One member cannot keep PostgreSQL busy with candidate rankings (real server process).

Seen before: one member keeping 20 orphan details in flight ran five similarity rankings at
once per worker (as many as the API's pool), which kept PostgreSQL's cores busy and slowed
every delivery's commit: webhook p99 11.7 s at 1,000,000 applications (bench/RESULTS.md).
"""

import asyncio
import time

from httpx import Response
from sqlalchemy.ext.asyncio import create_async_engine

from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import assert_problem, create_application, create_cohort, create_org
from tests.locks import held, waiting_on_locks
from tests.security.conftest import served_process

QUEUE_TIMEOUT_SECONDS = 0.5
IN_FLIGHT = 6


async def test_rankings_beyond_the_workers_limit_get_503_while_a_delivery_is_answered(
    tokens: Tokens, database_url: str
) -> None:
    env = {
        "WEB_CONCURRENCY": "1",
        "CANDIDATE_RANKINGS_MAX_CONCURRENT": "1",
        "API_QUEUE_TIMEOUT_SECONDS": str(QUEUE_TIMEOUT_SECONDS),
        "API_MAX_CONCURRENT_REQUESTS": str(IN_FLIGHT + 4),
        "API_STATEMENT_TIMEOUT_MS": "30000",
    }
    async with served_process(database_url, **env) as served:
        org = await create_org(served, tokens)
        cohort = await create_cohort(served, tokens, org["id"])
        await create_application(
            served, tokens, cohort, email="jane.doe@example.org", name="Jane Doe"
        )
        await create_application(served, tokens, cohort, email="sam@example.org", name="Sam")
        orphaned = await deliver(
            served, cohort, booking(uid="orphan", email="janedoe+x@example.org", name="Jane Doe")
        )
        assert orphaned.json()["outcome"] == "orphaned", orphaned.text
        detail_url = f"/v1/orphaned-interviews/{orphaned.json()['orphaned_interview_id']}"
        member = tokens("member", org["id"])

        async def detail() -> tuple[Response, float]:
            started = time.monotonic()
            response = await served.get(detail_url, headers=member)
            return response, time.monotonic() - started

        watcher = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
        try:
            async with (
                held(database_url, "LOCK TABLE application_search_terms"),
                watcher.connect() as watching,
            ):
                first = asyncio.create_task(detail())
                for _ in range(250):
                    if await waiting_on_locks(watching, "application_search_terms") == 1:
                        break
                    await asyncio.sleep(0.02)
                assert await waiting_on_locks(watching, "application_search_terms") == 1
                extra = await asyncio.gather(*(detail() for _ in range(IN_FLIGHT - 1)))
                # None of the refused ones reached the database meanwhile.
                running = await waiting_on_locks(watching, "application_search_terms")

                started = time.monotonic()
                delivered = await deliver(served, cohort, booking(email="sam@example.org"))
                webhook_seconds = time.monotonic() - started
                assert not first.done()
            answered, _ = await first
        finally:
            await watcher.dispose()
        after, _ = await detail()

    assert running == 1
    for response, seconds in extra:
        body = assert_problem(response, 503, "service-unavailable")
        assert "candidate rankings" in body["detail"]
        assert int(response.headers["Retry-After"]) >= 1
        # Refused once its turn did not come within the queue timeout, not later.
        assert QUEUE_TIMEOUT_SECONDS <= seconds < QUEUE_TIMEOUT_SECONDS + 2, seconds
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["outcome"] == "matched"
    assert webhook_seconds < 1.0, webhook_seconds
    # The ranking let in was served in full once it could read, and its slot was given back.
    for response in (answered, after):
        assert response.status_code == 200, response.text
        [candidate] = response.json()["candidates"]
        assert candidate["application"]["contact_email"] == "jane.doe@example.org"
