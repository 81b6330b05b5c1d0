"""Never losing a delivery: failed effects are kept and retried, an unreachable database
sends deliveries to the journal (issue "Never lose a Cal.com event")."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from scheduling_service.calcom.signature import sign
from scheduling_service.config import Settings
from scheduling_service.db import (
    DeliveryTransactions,
    create_engine,
    create_sessionmaker,
    create_webhook_engine,
    is_database_unavailable,
)
from scheduling_service.webhooks.journal import JournalEntry
from scheduling_service.webhooks.recovery import Recovery
from scheduling_service.webhooks.service import Intake, retry_due_failures
from tests.calcom_bodies import booking, deliver, encode, sample
from tests.conftest import Tokens
from tests.factories import create_application

Json = dict[str, Any]


@asynccontextmanager
async def failing_history(app: FastAPI) -> AsyncIterator[None]:
    """Every history insert raises, as a bug in applying an event would."""
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            text(
                "CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'injected fault'; END $$"
            )
        )
        await session.execute(
            text(
                "CREATE TRIGGER fail BEFORE INSERT ON history_entries"
                " FOR EACH ROW EXECUTE FUNCTION fail()"
            )
        )
    try:
        yield
    finally:
        async with app.state.sessionmaker.begin() as session:
            await session.execute(text("DROP TRIGGER fail ON history_entries"))
            await session.execute(text("DROP FUNCTION fail()"))


async def status_of(client: AsyncClient, tokens: Tokens, application: Json) -> str:
    response = await client.get(
        f"/v1/applications/{application['id']}", headers=tokens("system_admin")
    )
    status: str = response.json()["status"]
    return status


async def failed_events(client: AsyncClient, tokens: Tokens, cohort: Json) -> list[Json]:
    response = await client.get(
        f"/v1/cohorts/{cohort['id']}/webhook-events",
        params={"outcome": "failed"},
        headers=tokens("admin", cohort["organization_id"]),
    )
    items: list[Json] = response.json()["items"]
    return items


async def test_failed_effect_is_kept_acknowledged_and_replayable(
    app: FastAPI, client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    async with failing_history(app):
        response = await deliver(client, cohort, sample("booking_created"))

    assert response.status_code == 202
    assert response.json()["outcome"] == "failed"
    assert await status_of(client, tokens, application) == "waiting_first_round"
    [failed] = await failed_events(client, tokens, cohort)
    assert "injected fault" in failed["reason"]
    assert failed["attempts"] == 1
    assert failed["next_attempt_at"] is not None

    replayed = await client.post(
        f"/v1/webhook-events/{failed['id']}/replay",
        headers=tokens("admin", cohort["organization_id"]),
    )
    again = await client.post(
        f"/v1/webhook-events/{failed['id']}/replay",
        headers=tokens("admin", cohort["organization_id"]),
    )

    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["outcome"] == "matched"
    assert again.json()["outcome"] == "matched"
    assert await status_of(client, tokens, application) == "first_round_scheduled"
    history = await client.get(
        f"/v1/applications/{application['id']}/history", headers=tokens("system_admin")
    )
    assert [e["kind"] for e in history.json()["items"]].count("interview_scheduled") == 1


async def test_replay_that_fails_again_counts_the_attempt(
    app: FastAPI, client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    await create_application(client, tokens, cohort)
    async with failing_history(app):
        await deliver(client, cohort, sample("booking_created"))
        [failed] = await failed_events(client, tokens, cohort)
        replayed = await client.post(
            f"/v1/webhook-events/{failed['id']}/replay",
            headers=tokens("admin", cohort["organization_id"]),
        )

    assert replayed.status_code == 200
    assert (replayed.json()["outcome"], replayed.json()["attempts"]) == ("failed", 2)


async def test_due_failures_are_retried_in_the_background(
    app: FastAPI, client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    async with failing_history(app):
        await deliver(client, cohort, sample("booking_created"))
    async with app.state.sessionmaker.begin() as session:
        await session.execute(text("UPDATE webhook_events SET next_attempt_at = now()"))

    retried = await retry_due_failures(app.state.sessionmaker, app.state.settings, limit=10)

    assert retried == 1
    assert await status_of(client, tokens, application) == "first_round_scheduled"
    assert await failed_events(client, tokens, cohort) == []


async def test_delivery_while_database_unreachable_is_journaled_then_applied(
    app: FastAPI, client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    working: Intake = app.state.intake
    # Nothing listens on port 1: every connection is refused, as when PostgreSQL is down.
    down = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none", app.state.settings)
    app.state.intake = replace(
        working, transactions=DeliveryTransactions(down), sessionmaker=create_sessionmaker(down)
    )
    try:
        responses = [
            await deliver(client, cohort, body)
            for body in (booking(uid="a"), booking(uid="a"), booking("BOOKING_CANCELLED", uid="a"))
        ]
    finally:
        app.state.intake = working
        await down.dispose()

    assert [r.status_code for r in responses] == [202, 202, 202]
    assert {r.json()["outcome"] for r in responses} == {"queued"}
    assert await status_of(client, tokens, application) == "waiting_first_round"

    drained, _ = await Recovery(working).recover_once()

    assert drained == 3
    history = await client.get(
        f"/v1/applications/{application['id']}/history", headers=tokens("system_admin")
    )
    kinds = [entry["kind"] for entry in history.json()["items"]]
    assert kinds == ["status", "interview_scheduled", "interview_cancelled"]
    assert await status_of(client, tokens, application) == "waiting_first_round"
    assert working.journal is not None
    assert not working.journal.has_entries()


@pytest.mark.commits  # a pooled connection of its own, cut by the server
async def test_a_pooled_connection_the_server_cut_costs_no_delivery(
    app: FastAPI, client: AsyncClient, tokens: Tokens, cohort: Json, database_url: str
) -> None:
    application = await create_application(client, tokens, cohort)
    working: Intake = app.state.intake
    cut = create_webhook_engine(database_url, app.state.settings)
    async with cut.connect() as connection:
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    # As PostgreSQL stopping and starting again leaves it: the pooled connection was closed
    # by the server a moment after its last use (too soon for a ping).
    async with app.state.sessionmaker.begin() as session:
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await asyncio.sleep(0.1)
    app.state.intake = replace(working, sessionmaker=create_sessionmaker(cut))
    try:
        response = await deliver(client, cohort, booking(uid="a"))
    finally:
        app.state.intake = working
        await cut.dispose()

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "matched"
    assert await status_of(client, tokens, application) == "first_round_scheduled"


async def test_a_transaction_begun_on_a_closed_connection_means_unreachable(
    app: FastAPI, database_url: str
) -> None:
    """The hot path begins its transaction on the raw connection (`driver`): a connection
    cut in use then raises the asyncpg adapter's own error, which must send the delivery to
    the journal, not to a 500."""
    engine = create_webhook_engine(database_url, app.state.settings)
    try:
        async with engine.connect() as connection:
            pooled: Any = await connection.get_raw_connection()
            await pooled.driver_connection.close()
            with pytest.raises(Exception, match="connection is closed") as raised:
                await pooled._start_transaction()
            await connection.invalidate()
    finally:
        await engine.dispose()

    assert is_database_unavailable(raised.value)


async def test_forged_deliveries_while_database_unreachable_are_refused_not_journaled(
    app: FastAPI, client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    working: Intake = app.state.intake
    down = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none", app.state.settings)
    app.state.intake = replace(
        working, transactions=DeliveryTransactions(down), sessionmaker=create_sessionmaker(down)
    )
    try:
        forged = await deliver(client, cohort, booking(uid="a"), signature="0" * 64)
    finally:
        app.state.intake = working
        await down.dispose()

    assert forged.status_code == 401
    assert working.journal is not None
    assert not working.journal.has_entries()
    await Recovery(working).recover_once()
    assert await status_of(client, tokens, application) == "waiting_first_round"
    events = await client.get(
        f"/v1/cohorts/{cohort['id']}/webhook-events",
        headers=tokens("admin", cohort["organization_id"]),
    )
    assert events.json()["items"] == []


async def test_a_failed_event_that_no_longer_parses_is_rejected_and_the_retries_go_on(
    app: FastAPI, client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    application = await create_application(client, tokens, cohort)
    overflowing = booking(uid="bad", email="x@example.com", start="0001-01-01T00:00:00+05:00")
    async with failing_history(app):
        await deliver(client, cohort, booking(uid="good"))
    # As kept before the parser refused such times: failed, due first.
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            text(
                "INSERT INTO webhook_events (id, cohort_id, event_id, trigger, raw_body, outcome,"
                " reason, attempts, next_attempt_at) VALUES (gen_random_uuid(), :cohort, 'bad',"
                " 'BOOKING_CREATED', :body, 'failed', 'OverflowError', 1, now() - interval '1h')"
            ),
            {"cohort": cohort["id"], "body": encode(overflowing)},
        )
        await session.execute(
            text("UPDATE webhook_events SET next_attempt_at = now() WHERE event_id <> 'bad'")
        )

    retried = await retry_due_failures(app.state.sessionmaker, app.state.settings, limit=10)

    assert retried == 2
    assert await status_of(client, tokens, application) == "first_round_scheduled"
    events = await client.get(
        f"/v1/cohorts/{cohort['id']}/webhook-events",
        params={"outcome": "rejected"},
        headers=tokens("admin", cohort["organization_id"]),
    )
    [rejected] = events.json()["items"]
    assert "cannot be converted to UTC" in rejected["reason"]
    assert rejected["next_attempt_at"] is None


async def test_a_journal_line_cut_short_is_set_aside_and_the_drain_goes_on(
    app: FastAPI, client: AsyncClient, tokens: Tokens, cohort: Json, settings: Settings
) -> None:
    application = await create_application(client, tokens, cohort)
    body = encode(booking(uid="a"))
    entry = JournalEntry(uuid.UUID(cohort["id"]), body, sign(body, cohort["webhook_secret"]))
    settings.journal_dir.mkdir(parents=True, exist_ok=True)
    cut = entry.encode()[:40]
    (settings.journal_dir / "journal.jsonl").write_bytes(cut + b"\n" + entry.encode())

    drained, _ = await Recovery(app.state.intake).recover_once()

    assert drained == 1
    assert await status_of(client, tokens, application) == "first_round_scheduled"
    assert (settings.journal_dir / "set-aside.log").read_bytes() == cut + b"\n"
    assert not app.state.intake.journal.has_entries()
