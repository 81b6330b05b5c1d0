"""A cohort's Cal.com connection and reconciliation, through the API (SPEC 3b and 5)."""

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from httpx import AsyncClient
from sqlalchemy import select, text

from scheduling_service.config import Settings
from scheduling_service.db import SessionMaker
from scheduling_service.models import CalcomConnection, MessageKind, OutboxMessage
from scheduling_service.notifications.templates import render
from scheduling_service.reconciliation.secrets import KeyBox, key_box
from scheduling_service.reconciliation.service import Reconciler, RunStopped, reconcile_cohort
from tests.calcom_bodies import deliver
from tests.conftest import Tokens
from tests.factories import ADMINS, assert_problem, create_application, create_org, history
from tests.fake_calcom_api import API_KEY, FakeCalcomServer
from tests.operations.scrape import parse, value

Json = dict[str, Any]
START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


def admin(tokens: Tokens, cohort: Json) -> dict[str, str]:
    return tokens("admin", cohort["organization_id"])


async def connect(
    client: AsyncClient, tokens: Tokens, cohort: Json, fake_calcom: FakeCalcomServer, **fields: Any
) -> Json:
    body = {"api_key": API_KEY, "base_url": fake_calcom.base_url, **fields}
    answer = await client.put(
        f"/v1/cohorts/{cohort['id']}/calcom-connection", json=body, headers=admin(tokens, cohort)
    )
    assert answer.status_code == 200, answer.text
    connection: Json = answer.json()
    return connection


async def reconcile(client: AsyncClient, tokens: Tokens, cohort: Json, **body: Any) -> Json:
    answer = await client.post(
        f"/v1/cohorts/{cohort['id']}/reconcile", json=body, headers=admin(tokens, cohort)
    )
    assert answer.status_code == 200, answer.text
    result: Json = answer.json()
    return result


async def read_cohort(client: AsyncClient, tokens: Tokens, cohort: Json) -> Json:
    answer = await client.get(
        f"/v1/cohorts/{cohort['id']}", headers=tokens("member", cohort["organization_id"])
    )
    assert answer.status_code == 200, answer.text
    document: Json = answer.json()
    return document


async def read_application(client: AsyncClient, tokens: Tokens, application: Json) -> Json:
    answer = await client.get(
        f"/v1/applications/{application['id']}", headers=tokens("system_admin")
    )
    assert answer.status_code == 200, answer.text
    document: Json = answer.json()
    return document


async def test_a_cohort_without_connection_shows_none_and_cannot_be_reconciled(
    client: AsyncClient, tokens: Tokens, cohort: Json
) -> None:
    answer = await client.post(
        f"/v1/cohorts/{cohort['id']}/reconcile", json={}, headers=admin(tokens, cohort)
    )

    assert (await read_cohort(client, tokens, cohort))["calcom_connection"] is None
    assert_problem(answer, 404, "not-found")


async def test_the_api_key_is_write_only_and_encrypted_at_rest(
    client: AsyncClient,
    tokens: Tokens,
    cohort: Json,
    fake_calcom: FakeCalcomServer,
    sessionmaker: SessionMaker,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await connect(client, tokens, cohort, fake_calcom, event_type_ids=[12, 12, 7])
    shown = await read_cohort(client, tokens, cohort)
    async with sessionmaker() as session:
        stored = await session.get(CalcomConnection, uuid.UUID(cohort["id"]))
        assert stored is not None
        raw = await session.scalar(
            text("SELECT api_key_encrypted FROM calcom_connections WHERE cohort_id = :c"),
            {"c": cohort["id"]},
        )

    assert answer == {
        "base_url": fake_calcom.base_url,
        "event_type_ids": [12, 7],
        "last_run_at": None,
        "last_success_at": None,
        "last_error": None,
        "watermark": None,
    }
    assert shown["calcom_connection"] == answer
    assert API_KEY.encode() not in raw
    assert key_box(settings).open(raw) == API_KEY
    assert API_KEY not in caplog.text


async def test_only_the_cohorts_org_admin_sets_or_removes_the_connection(
    client: AsyncClient, tokens: Tokens, cohort: Json, fake_calcom: FakeCalcomServer
) -> None:
    path = f"/v1/cohorts/{cohort['id']}/calcom-connection"
    body = {"api_key": API_KEY}
    other = await create_org(client, tokens, name="Other")

    as_member = await client.put(
        path, json=body, headers=tokens("member", cohort["organization_id"])
    )
    as_stranger = await client.put(path, json=body, headers=tokens("admin", other["id"]))

    assert_problem(as_member, 403, "forbidden")
    assert_problem(as_stranger, 404, "not-found")
    await connect(client, tokens, cohort, fake_calcom)
    removed = await client.delete(path, headers=admin(tokens, cohort))
    assert removed.status_code == 204, removed.text
    assert (await read_cohort(client, tokens, cohort))["calcom_connection"] is None
    assert_problem(await client.delete(path, headers=admin(tokens, cohort)), 404, "not-found")


async def test_a_booking_the_webhook_missed_is_applied_once_and_its_late_webhook_changes_nothing(
    client: AsyncClient, tokens: Tokens, cohort: Json, fake_calcom: FakeCalcomServer
) -> None:
    application = await create_application(
        client, tokens, cohort, email="jane@example.org", status="waiting_first_round"
    )
    await connect(client, tokens, cohort, fake_calcom)
    uid = fake_calcom.calcom.create("Jane@Example.org", "Jane", START)

    dry = await reconcile(client, tokens, cohort, dry_run=True)
    untouched = await read_application(client, tokens, application)
    applied = await reconcile(client, tokens, cohort)
    scheduled = await read_application(client, tokens, application)
    again = await reconcile(client, tokens, cohort)
    late = await deliver(client, cohort, fake_calcom.calcom.webhooks[-1])

    assert dry["applied"] is False
    assert [(c["booking_uid"], c["change"], c["outcome"]) for c in dry["changes"]] == [
        (uid, "created", "matched")
    ]
    assert untouched["status"] == "waiting_first_round"
    assert applied["applied"] is True
    assert applied["changes"][0]["application_id"] == application["id"]
    assert scheduled["status"] == "first_round_scheduled"
    assert scheduled["interview"]["booking_uid"] == uid
    assert again["changes"] == []
    assert late.json()["outcome"] == "duplicate"
    assert await read_application(client, tokens, application) == scheduled
    causes = [(e["kind"], e["cause"]) for e in await history(client, tokens, application)]
    assert causes[-1] == ("interview_scheduled", "reconciliation")
    events = await client.get(
        f"/v1/cohorts/{cohort['id']}/webhook-events", headers=admin(tokens, cohort)
    )
    assert [(e["source"], e["outcome"]) for e in events.json()["items"]] == [
        ("webhook", "duplicate"),
        ("reconciliation", "matched"),
    ]
    status = (await read_cohort(client, tokens, cohort))["calcom_connection"]
    assert status["last_success_at"] is not None
    assert status["watermark"] is not None


async def test_since_reaches_back_past_the_watermark(
    client: AsyncClient, tokens: Tokens, cohort: Json, fake_calcom: FakeCalcomServer
) -> None:
    await connect(client, tokens, cohort, fake_calcom)
    fake_calcom.calcom.clock = datetime.now(UTC) - timedelta(days=10)
    old = fake_calcom.calcom.create("old@example.org", "Old", START)
    assert (await reconcile(client, tokens, cohort))["changes"] == []  # 72 h back: not `old`

    found = await reconcile(client, tokens, cohort, since="2020-01-01T00:00:00Z")

    assert [(c["booking_uid"], c["outcome"]) for c in found["changes"]] == [(old, "orphaned")]


async def test_a_refused_key_is_visible_and_alerts_the_admins_once(
    client: AsyncClient,
    tokens: Tokens,
    cohort: Json,
    fake_calcom: FakeCalcomServer,
    sessionmaker: SessionMaker,
) -> None:
    await connect(client, tokens, cohort, fake_calcom, api_key="cal_live_revoked")
    path = f"/v1/cohorts/{cohort['id']}/reconcile"

    first = await client.post(path, json={}, headers=admin(tokens, cohort))
    second = await client.post(path, json={}, headers=admin(tokens, cohort))
    status = (await read_cohort(client, tokens, cohort))["calcom_connection"]
    async with sessionmaker() as session:
        alerts = (
            await session.scalars(
                select(OutboxMessage.recipient).where(
                    OutboxMessage.kind == MessageKind.CALCOM_KEY_REJECTED.value
                )
            )
        ).all()

    assert_problem(first, 424, "calcom-api-failed")
    assert_problem(second, 424, "calcom-api-failed")
    assert status["last_error"] == "Cal.com refused the API key (401)"
    assert status["last_success_at"] is None
    assert sorted(alerts) == sorted(ADMINS)
    await connect(client, tokens, cohort, fake_calcom)
    await reconcile(client, tokens, cohort)
    healed = (await read_cohort(client, tokens, cohort))["calcom_connection"]
    assert healed["last_error"] is None
    assert healed["last_success_at"] is not None


@pytest.mark.commits  # two replicas at once
async def test_two_replicas_reconciling_at_once_apply_each_change_once(
    client: AsyncClient,
    tokens: Tokens,
    cohort: Json,
    fake_calcom: FakeCalcomServer,
    sessionmaker: SessionMaker,
    settings: Settings,
) -> None:
    await connect(client, tokens, cohort, fake_calcom)
    for n in range(30):
        fake_calcom.calcom.create(
            f"person{n}@example.org", f"Person {n}", START + timedelta(hours=n)
        )
    replicas = [Reconciler(sessionmaker, settings), Reconciler(sessionmaker, settings)]

    ran = await asyncio.gather(*(replica.run_due() for replica in replicas))
    async with sessionmaker() as session:
        events = await session.scalar(
            text("SELECT count(*) FROM webhook_events WHERE source = 'reconciliation'")
        )
        orphans = await session.scalar(text("SELECT count(*) FROM orphaned_interviews"))

    assert sorted(ran) == [0, 1]
    assert events == 30
    assert orphans == 30
    assert await asyncio.gather(*(r.run_due() for r in replicas)) == [0, 0]  # not due yet


async def test_applied_changes_are_counted_in_metrics(
    client: AsyncClient, tokens: Tokens, cohort: Json, fake_calcom: FakeCalcomServer
) -> None:
    await connect(client, tokens, cohort, fake_calcom)
    before = parse((await client.get("/metrics")).text)
    fake_calcom.calcom.create("nobody@example.org", "Nobody", START)

    await reconcile(client, tokens, cohort)
    await reconcile(client, tokens, cohort, dry_run=True)
    after = parse((await client.get("/metrics")).text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert (
        delta("scheduling_reconciliation_changes_total", change="created", outcome="orphaned") == 1
    )
    assert delta("scheduling_reconciliation_runs_total", result="success") == 1


async def test_a_key_encrypted_under_another_secrets_key_asks_for_the_connection_again(
    client: AsyncClient,
    tokens: Tokens,
    cohort: Json,
    fake_calcom: FakeCalcomServer,
    sessionmaker: SessionMaker,
) -> None:
    await connect(client, tokens, cohort, fake_calcom)
    async with sessionmaker() as session, session.begin():
        other = KeyBox(Fernet.generate_key()).seal(API_KEY)
        await session.execute(
            text("UPDATE calcom_connections SET api_key_encrypted = :k"), {"k": other}
        )

    answer = await client.post(
        f"/v1/cohorts/{cohort['id']}/reconcile", json={}, headers=admin(tokens, cohort)
    )
    status = (await read_cohort(client, tokens, cohort))["calcom_connection"]

    problem = assert_problem(answer, 409, "conflict")
    assert "set the connection again" in problem["detail"]
    assert "set the connection again" in status["last_error"]


async def test_the_refused_key_alert_tells_the_admins_what_to_do(
    client: AsyncClient,
    tokens: Tokens,
    cohort: Json,
    fake_calcom: FakeCalcomServer,
    sessionmaker: SessionMaker,
    settings: Settings,
) -> None:
    await connect(client, tokens, cohort, fake_calcom, api_key="cal_live_revoked")
    await client.post(
        f"/v1/cohorts/{cohort['id']}/reconcile", json={}, headers=admin(tokens, cohort)
    )
    async with sessionmaker() as session:
        message = (await session.scalars(select(OutboxMessage).limit(1))).one()

    email = render(message, "Spring 2027", [], settings)

    assert email["Subject"] == "[Spring 2027] Cal.com refused the API key: reconciliation stopped"
    body = email.get_content()
    assert f"PUT /v1/cohorts/{cohort['id']}/calcom-connection" in body
    assert "cal_live_revoked" not in body


@pytest.mark.parametrize(
    "base_url", ["ftp://cal.example", "https://", "http://cal example.org", "http://cal:99999"]
)
async def test_a_base_url_that_cannot_be_asked_is_refused(
    client: AsyncClient, tokens: Tokens, cohort: Json, base_url: str
) -> None:
    answer = await client.put(
        f"/v1/cohorts/{cohort['id']}/calcom-connection",
        json={"api_key": API_KEY, "base_url": base_url},
        headers=admin(tokens, cohort),
    )

    assert_problem(answer, 422, "validation-error")
    assert (await read_cohort(client, tokens, cohort))["calcom_connection"] is None


async def test_a_run_stopped_by_a_shutdown_is_taken_up_by_the_next(
    client: AsyncClient,
    tokens: Tokens,
    cohort: Json,
    fake_calcom: FakeCalcomServer,
    sessionmaker: SessionMaker,
    settings: Settings,
) -> None:
    await connect(client, tokens, cohort, fake_calcom)
    fake_calcom.calcom.create("first@example.org", "First", START)
    stopping = asyncio.Event()
    stopping.set()

    with pytest.raises(RunStopped):
        await reconcile_cohort(sessionmaker, settings, uuid.UUID(cohort["id"]), "a", stop=stopping)
    stopped = (await read_cohort(client, tokens, cohort))["calcom_connection"]
    resumed = await reconcile_cohort(sessionmaker, settings, uuid.UUID(cohort["id"]), "b")

    assert (
        stopped["last_error"]
        == "stopped by a shutdown after 0 of 1 changes; the next run continues"
    )
    assert stopped["watermark"] is None
    assert resumed is not None
    assert [c.outcome.kind.value for c in resumed.changes if c.outcome] == ["orphaned"]


@pytest.mark.parametrize("api_key", ["cal_live_é", "cal live", "cal_live\nX-Injected: 1"])
async def test_an_api_key_that_cannot_travel_in_a_header_is_refused_and_not_echoed(
    client: AsyncClient, tokens: Tokens, cohort: Json, api_key: str
) -> None:
    answer = await client.put(
        f"/v1/cohorts/{cohort['id']}/calcom-connection",
        json={"api_key": api_key},
        headers=admin(tokens, cohort),
    )

    assert_problem(answer, 422, "validation-error")
    assert api_key not in answer.text


async def test_a_session_its_host_moved_is_followed_by_every_seat_holder_once(
    client: AsyncClient, tokens: Tokens, cohort: Json, fake_calcom: FakeCalcomServer
) -> None:
    """Cal.com's two ways (see `FakeCalcom.move_session`): in place, then merged into the
    booking at the new time, made before the window asked for (found by a holder's email)."""
    jane, john, ann = [
        await create_application(
            client, tokens, cohort, email=f"{name}@example.org", status="waiting_first_round"
        )
        for name in ("jane", "john", "ann")
    ]
    await connect(client, tokens, cohort, fake_calcom)
    calcom = fake_calcom.calcom
    session = calcom.create_seated("jane@example.org", "Jane", START)
    calcom.take_seat(session, "john@example.org", "John")
    later = START + timedelta(days=1)
    elsewhere = calcom.create_seated("ann@example.org", "Ann", later)
    for body in calcom.webhooks:
        assert (await deliver(client, cohort, body)).json()["outcome"] == "matched"
    moved_at = START + timedelta(hours=3)

    # While the service is down, the host moves the session, in place.
    calcom.move_session(session, moved_at, reason="Host travelling")
    dry = await reconcile(client, tokens, cohort, dry_run=True)
    untouched = [await read_application(client, tokens, a) for a in (jane, john)]
    applied = await reconcile(client, tokens, cohort)
    late = await deliver(client, cohort, calcom.webhooks[-1])
    again = await reconcile(client, tokens, cohort)

    changes = [(c["booking_uid"], c["change"], c["rescheduled_from_uid"]) for c in dry["changes"]]
    assert changes == [(session, "session_moved", session)]
    assert [a["interview"]["start_time"] for a in untouched] == [_z(START)] * 2
    assert [c["event_id"] for c in applied["changes"]] == [c["event_id"] for c in dry["changes"]]
    [move] = applied["changes"]
    assert move["outcome"] == "matched"
    for application in (jane, john):
        moved = await read_application(client, tokens, application)
        assert (moved["interview"]["booking_uid"], moved["interview"]["start_time"]) == (
            session,
            _z(moved_at),
        )
        entry = (await history(client, tokens, application))[-1]
        assert (entry["kind"], entry["cause"], entry["event_id"], entry["reason"]) == (
            "interview_rescheduled",
            "reconciliation",
            move["event_id"],
            "Host travelling",
        )
    assert late.json()["outcome"] == "duplicate"
    assert again["changes"] == []
    lengths = [len(await history(client, tokens, a)) for a in (jane, john, ann)]

    # Then into Ann's session at `later`: that booking itself is not changed.
    since = calcom.clock + timedelta(milliseconds=500)
    assert calcom.move_session(session, later) == elsewhere
    merged = await reconcile(client, tokens, cohort, since=_z(since))
    late = await deliver(client, cohort, calcom.webhooks[-1])
    again = await reconcile(client, tokens, cohort, since=_z(since))

    assert [
        (c["booking_uid"], c["change"], c["rescheduled_from_uid"], c["outcome"])
        for c in merged["changes"]
    ] == [(elsewhere, "session_moved", session, "matched")]
    for application in (jane, john, ann):
        moved = await read_application(client, tokens, application)
        assert (moved["interview"]["booking_uid"], moved["interview"]["start_time"]) == (
            elsewhere,
            _z(later),
        )
    assert [len(await history(client, tokens, a)) for a in (jane, john, ann)] == [
        lengths[0] + 1,
        lengths[1] + 1,
        lengths[2],
    ]
    assert (await history(client, tokens, john))[-1]["kind"] == "interview_rescheduled"
    assert late.json()["outcome"] == "duplicate"
    assert again["changes"] == []


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
