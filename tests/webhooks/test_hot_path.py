"""The webhook's hot path: asyncpg directly under the session's transaction, writes batched
into one statement behind a gate, the lock timeout set by storing the event."""

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver
from scheduling_service.db import is_database_unavailable, run_in_transaction
from scheduling_service.models import WebhookOutcome
from scheduling_service.webhooks.repository import WebhookEventRepository
from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import create_application, events, get_application, history

# Real commits (tests/conftest.py): concurrent deliveries, and reads on connections of their own.
pytestmark = pytest.mark.commits

Json = dict[str, Any]


async def deliver_copies(
    client: AsyncClient, cohort: Json, document: Json, copies: int
) -> list[str]:
    """The same booking change, each copy with its own `createdAt` (so its own event ID), at
    once; answers the outcomes, sorted."""

    async def one(n: int) -> str:
        response = await deliver(client, cohort, {**document, "createdAt": f"copy-{n}"})
        assert response.status_code == 200, response.text
        outcome: str = response.json()["outcome"]
        return outcome

    return sorted(await asyncio.gather(*(one(n) for n in range(copies))))


async def webhook_history(client: AsyncClient, tokens: Tokens, application: Json) -> list[Json]:
    return [e for e in await history(client, tokens, application) if e["cause"] == "webhook"]


async def test_concurrent_copies_of_a_creation_with_their_own_event_ids_apply_once(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)

    outcomes = await deliver_copies(client, cohort, booking(uid="copied"), 10)

    assert outcomes == ["duplicate"] * 9 + ["matched"]
    assert len(await webhook_history(client, tokens, application)) == 1
    logged = await events(client, tokens, cohort)
    assert sorted(e["outcome"] for e in logged) == outcomes


async def test_concurrent_copies_of_a_reschedule_apply_once(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="first"))
    moved = booking(
        "BOOKING_RESCHEDULED",
        uid="second",
        reschedule_uid="first",
        start="2026-05-13T10:00:00Z",
        end="2026-05-13T10:30:00Z",
    )

    outcomes = await deliver_copies(client, cohort, moved, 10)

    assert outcomes == ["duplicate"] * 9 + ["matched"]
    current = await get_application(client, tokens, application)
    assert current["interview"]["booking_uid"] == "second"
    kinds = [e["kind"] for e in await webhook_history(client, tokens, application)]
    assert kinds == ["interview_scheduled", "interview_rescheduled"]


async def test_concurrent_copies_of_a_cancellation_apply_once(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    await deliver(client, cohort, booking(uid="booked"))

    outcomes = await deliver_copies(client, cohort, booking("BOOKING_CANCELLED", uid="booked"), 10)

    assert outcomes == ["duplicate"] * 9 + ["matched"]
    assert (await get_application(client, tokens, application))["status"] == "waiting_first_round"
    kinds = [e["kind"] for e in await webhook_history(client, tokens, application)]
    assert kinds == ["interview_scheduled", "interview_cancelled"]
    logged = await events(client, tokens, cohort)
    assert WebhookOutcome.PENDING.value not in {e["outcome"] for e in logged}


async def test_reschedule_of_an_unknown_booking_remembers_it_once(
    client: AsyncClient, tokens: Tokens, cohort: Json, app: FastAPI
) -> None:
    await create_application(client, tokens, cohort)
    moved = booking("BOOKING_RESCHEDULED", uid="new", reschedule_uid="never-seen")

    outcomes = await deliver_copies(client, cohort, moved, 5)

    assert outcomes == ["duplicate"] * 4 + ["matched"]
    async with app.state.engine.connect() as connection:
        states = (
            await connection.execute(
                text("SELECT uid, state FROM bookings WHERE cohort_id = :c ORDER BY uid"),
                {"c": cohort["id"]},
            )
        ).all()
    assert [tuple(row) for row in states] == [("never-seen", "rescheduled"), ("new", "active")]
    late = await deliver(client, cohort, booking(uid="never-seen", created_at="late"))
    assert late.json()["outcome"] == "ignored"


async def in_transaction(app: FastAPI, work: Any) -> Any:
    return await run_in_transaction(app.state.sessionmaker, work)


async def test_storing_a_new_event_sets_the_transactions_lock_timeout(
    app: FastAPI, cohort: Json
) -> None:
    async def store(session: AsyncSession) -> tuple[uuid.UUID | None, str]:
        events = WebhookEventRepository(session)
        stored = await events.insert_if_new(
            cohort_id=uuid.UUID(cohort["id"]),
            event_id="timeout-probe",
            trigger="BOOKING_CREATED",
            raw_body=b"{}",
            outcome=WebhookOutcome.IGNORED,
            lock_timeout_ms=1234,
        )
        shown = await session.scalar(text("SHOW lock_timeout"))
        return stored, str(shown)

    stored, timeout = await in_transaction(app, store)
    assert stored is not None
    assert timeout == "1234ms"
    # A copy stores nothing and leaves the timeout as it was.
    copied, timeout = await in_transaction(app, store)
    assert copied is None
    assert timeout != "1234ms"


async def test_direct_statements_belong_to_the_sessions_transaction(
    app: FastAPI, cohort: Json
) -> None:
    statement = driver.Sql(text("UPDATE cohorts SET name = 'renamed' WHERE id = :cohort_id"))

    async def rename_then_fail(session: AsyncSession) -> None:
        # The first statement of the session: the connection must be in a transaction.
        await driver.fetch(session, statement, {"cohort_id": uuid.UUID(cohort["id"])})
        raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        await in_transaction(app, rename_then_fail)
    async with app.state.engine.connect() as connection:
        name = await connection.scalar(
            text("SELECT name FROM cohorts WHERE id = :c"), {"c": cohort["id"]}
        )
    assert name != "renamed"


async def test_a_deadlock_raised_by_asyncpg_itself_is_retried(app: FastAPI) -> None:
    attempts = 0

    async def deadlocked_once(session: AsyncSession) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
        return "done"

    assert await in_transaction(app, deadlocked_once) == "done"
    assert attempts == 2


def test_asyncpg_errors_of_a_server_going_away_mean_unavailable() -> None:
    assert is_database_unavailable(asyncpg.exceptions.AdminShutdownError("shutting down"))
    assert is_database_unavailable(asyncpg.exceptions.CannotConnectNowError("starting"))
    assert not is_database_unavailable(asyncpg.exceptions.UniqueViolationError("duplicate"))
