"""`/metrics`: what an operator's Prometheus scrapes."""

import uuid
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver, metrics
from scheduling_service.config import Settings
from scheduling_service.db import DeliveryTransactions
from scheduling_service.notifications.dispatcher import Dispatcher
from tests.calcom_bodies import booking, deliver, encode
from tests.conftest import Tokens
from tests.factories import create_application
from tests.operations.scrape import Samples, parse, value


async def scrape(client: AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def delivered(samples: Samples, trigger: str, outcome: str) -> float:
    return value(samples, "scheduling_webhook_deliveries_total", trigger=trigger, outcome=outcome)


async def test_webhook_deliveries_are_counted_by_trigger_and_outcome(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    await create_application(client, tokens, cohort)
    before = await scrape(client)

    created = booking(uid="counted-1")
    assert (await deliver(client, cohort, created)).json()["outcome"] == "matched"
    assert (await deliver(client, cohort, created)).json()["outcome"] == "duplicate"
    stranger = booking(uid="counted-2", email="stranger@example.org")
    assert (await deliver(client, cohort, stranger)).json()["outcome"] == "orphaned"
    cancel = booking("BOOKING_CANCELLED", uid="counted-1", created_at="2026-05-05T10:00:00Z")
    assert (await deliver(client, cohort, cancel)).json()["outcome"] == "matched"
    forged = await deliver(client, cohort, booking(uid="counted-3"), signature="0" * 64)
    assert forged.status_code == 401
    unknown = {**cohort, "id": str(uuid.uuid4())}
    assert (await deliver(client, unknown, booking(uid="counted-4"))).status_code == 404

    after = await scrape(client)
    expected = {
        ("BOOKING_CREATED", "matched"): 1,
        ("BOOKING_CREATED", "duplicate"): 1,
        ("BOOKING_CREATED", "orphaned"): 1,
        ("BOOKING_CANCELLED", "matched"): 1,
        # Nothing of an unauthenticated body is read, not even its trigger.
        ("none", "invalid_signature"): 1,
        ("none", "unknown_cohort"): 1,
    }
    for (trigger, outcome), count in expected.items():
        assert delivered(after, trigger, outcome) - delivered(before, trigger, outcome) == count
    latency = "scheduling_webhook_processing_seconds_count"
    assert (
        value(after, latency, trigger="BOOKING_CREATED")
        - value(before, latency, trigger="BOOKING_CREATED")
        == 3
    )


async def test_unknown_triggers_share_one_label(
    client: AsyncClient, cohort: dict[str, Any]
) -> None:
    before = await scrape(client)
    for trigger in ("MEETING_ENDED", "SOMETHING_NEW_1", "SOMETHING_NEW_2"):
        body = encode({"triggerEvent": trigger, "createdAt": "2026-05-04T09:00:00Z"})
        response = await deliver(client, cohort, body)
        assert response.json()["outcome"] == "ignored"

    after = await scrape(client)

    assert delivered(after, "other", "ignored") - delivered(before, "other", "ignored") == 3
    assert not any("SOMETHING_NEW" in str(labels) for _, labels in after)


async def test_orphans_opened_and_resolved_are_counted(
    client: AsyncClient, tokens: Tokens, cohort: dict[str, Any]
) -> None:
    admin = tokens("admin", cohort["organization_id"])
    application = await create_application(client, tokens, cohort)
    before = await scrape(client)

    orphans = []
    for number in range(3):
        body = booking(uid=f"orphan-{number}", email=f"walk-in-{number}@example.org")
        orphans.append((await deliver(client, cohort, body)).json()["orphaned_interview_id"])
    matched = await client.post(
        f"/v1/orphaned-interviews/{orphans[0]}/match",
        json={"application_id": application["id"]},
        headers=admin,
    )
    assert matched.status_code == 200, matched.text
    dismissed = await client.post(
        f"/v1/orphaned-interviews/{orphans[1]}/dismiss", json={}, headers=admin
    )
    assert dismissed.status_code == 200, dismissed.text
    cancel = booking(
        "BOOKING_CANCELLED",
        uid="orphan-2",
        email="walk-in-2@example.org",
        created_at="2026-05-05T10:00:00Z",
    )
    assert (await deliver(client, cohort, cancel)).json()["outcome"] == "orphaned"
    # Refused (no longer open): nothing more is counted.
    again = await client.post(
        f"/v1/orphaned-interviews/{orphans[1]}/dismiss", json={}, headers=admin
    )
    assert again.status_code == 409

    after = await scrape(client)
    opened = "scheduling_orphans_opened_total"
    assert value(after, opened) - value(before, opened) == 3
    resolved = "scheduling_orphans_resolved_total"
    for resolution in ("matched", "dismissed", "cancelled"):
        change = value(after, resolved, resolution=resolution) - value(
            before, resolved, resolution=resolution
        )
        assert change == 1, resolution


async def test_work_rolled_back_is_not_counted(client: AsyncClient, app: FastAPI) -> None:
    opened = "scheduling_orphans_opened_total"
    before = value(await scrape(client), opened)

    async def count_then_fail(session: AsyncSession) -> None:
        metrics.after_commit(session, metrics.ORPHANS_OPENED.inc)
        raise RuntimeError("rolled back")

    async with app.state.sessionmaker() as session:
        async with session.begin():
            metrics.after_commit(session, metrics.ORPHANS_OPENED.inc)
            with pytest.raises(RuntimeError):
                async with session.begin_nested():
                    await count_then_fail(session)
            async with session.begin_nested():
                metrics.after_commit(session, metrics.ORPHANS_OPENED.inc)
        with pytest.raises(RuntimeError):
            async with session.begin():
                await count_then_fail(session)

    # The outer count and the committed savepoint's; neither rolled-back one.
    assert value(await scrape(client), opened) - before == 2


async def test_a_delivery_rolled_back_is_not_counted(client: AsyncClient, app: FastAPI) -> None:
    opened = "scheduling_orphans_opened_total"
    before = value(await scrape(client), opened)
    transactions: DeliveryTransactions = app.state.intake.transactions

    async def count_then_fail(transaction: driver.Transaction) -> None:
        metrics.after_commit(transaction, metrics.ORPHANS_OPENED.inc)
        raise RuntimeError("rolled back")

    async def count(transaction: driver.Transaction) -> None:
        metrics.after_commit(transaction, metrics.ORPHANS_OPENED.inc)

    with pytest.raises(RuntimeError):
        await transactions.run(count_then_fail)
    await transactions.run(count)

    assert value(await scrape(client), opened) - before == 1


async def test_requests_are_labelled_by_route_template_never_by_path(
    client: AsyncClient, tokens: Tokens
) -> None:
    application_id = str(uuid.uuid4())
    stray = f"/no-such-page-{uuid.uuid4().hex}"
    before = await scrape(client)

    response = await client.get(
        f"/v1/applications/{application_id}", headers=tokens("member", uuid.uuid4())
    )
    assert response.status_code == 404
    assert (await client.get(stray)).status_code == 404

    text = (await client.get("/metrics")).text
    after = parse(text)
    requests = "scheduling_http_requests_total"
    route = "/v1/applications/{application_id}"
    labels = {"method": "GET", "route": route, "status": "404"}
    assert value(after, requests, **labels) - value(before, requests, **labels) == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, requests, **unmatched) - value(before, requests, **unmatched) == 1
    assert application_id not in text
    assert stray not in text


async def test_pool_gauge_counts_connections_in_use(client: AsyncClient, app: FastAPI) -> None:
    in_use = "scheduling_db_pool_checked_out_connections"
    before = value(await scrape(client), in_use)

    async with app.state.engine.connect():
        held = value(await scrape(client), in_use)

    assert held == before + 1
    assert value(await scrape(client), in_use) == before
    pool_size = app.state.settings.database_pool_size
    assert value(await scrape(client), "scheduling_db_pool_size") >= pool_size


@pytest.mark.commits  # alerts due by now()
async def test_outbox_depth_is_the_pending_alerts(
    client: AsyncClient, cohort: dict[str, Any]
) -> None:
    assert value(await scrape(client), "scheduling_outbox_pending_messages") == 0

    answer = await deliver(client, cohort, booking(email="stranger@example.org"))
    assert answer.json()["outcome"] == "orphaned"

    # One alert per admin of the organization, not sent yet (no dispatcher runs in tests).
    assert value(await scrape(client), "scheduling_outbox_pending_messages") == 2


async def test_request_ids_are_returned(client: AsyncClient) -> None:
    chosen = await client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    generated = await client.get("/healthz")
    forged = await client.get("/healthz", headers={"X-Request-ID": "evil\tline"})

    assert chosen.headers["X-Request-ID"] == "trace-42"
    assert len(generated.headers["X-Request-ID"]) == 32
    assert forged.headers["X-Request-ID"] not in {"evil\tline", generated.headers["X-Request-ID"]}


class RefusingMailServer:
    async def send(self, message: EmailMessage) -> None:
        raise ConnectionRefusedError("the mail server is down")


@pytest.mark.commits  # alerts due by now()
async def test_failed_alert_sends_are_counted_and_stay_in_the_outbox(
    client: AsyncClient, app: FastAPI, settings: Settings, cohort: dict[str, Any]
) -> None:
    answer = await deliver(client, cohort, booking(email="stranger@example.org"))
    assert answer.json()["outcome"] == "orphaned"
    before = await scrape(client)
    dispatcher = Dispatcher(app.state.sessionmaker, settings, RefusingMailServer())

    assert await dispatcher.dispatch_once() == 0

    after = await scrape(client)
    failures = "scheduling_outbox_send_failures_total"
    # A pass stops at its first failure: the mail server is most likely down.
    assert value(after, failures) - value(before, failures) == 1
    assert value(after, "scheduling_outbox_pending_messages") == 2
