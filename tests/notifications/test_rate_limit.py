"""At most `alert_limit_per_window` alerts per admin and cohort in any window; the rest wait in
one digest until the window lets the next alert through."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from httpx import AsyncClient

from scheduling_service.config import Settings
from scheduling_service.db import SessionMaker
from scheduling_service.models import MessageKind, MessageState
from scheduling_service.notifications.dispatcher import Dispatcher
from scheduling_service.notifications.repository import OutboxRepository
from tests.conftest import Tokens
from tests.mail import DEADLINE_SECONDS, Received, SmtpServer, eventually
from tests.notifications.support import (
    WINDOW_SECONDS,
    Json,
    database_now,
    one_admin_cohort,
    orphan_booking,
    outbox,
)

# Real commits (tests/conftest.py): windows and due times measured by now(), concurrent orphans
pytestmark = pytest.mark.commits

SUBJECT = "[Spring 2026] Unmatched interview booking on Tue 12 May 2026 14:00 UTC"


async def test_burst_beyond_the_limit_is_one_digest_sent_when_the_window_ends(
    client: AsyncClient,
    tokens: Tokens,
    dispatcher: Dispatcher,
    sessionmaker: SessionMaker,
    smtp: SmtpServer,
) -> None:
    cohort = await one_admin_cohort(client, tokens, "ada@acme.example")

    orphan_ids = [await orphan_booking(client, cohort, n) for n in range(1, 8)]

    messages = await outbox(sessionmaker)
    alerts = [m for m in messages if m.kind == MessageKind.ORPHAN_ALERT.value]
    [digest] = [m for m in messages if m.kind == MessageKind.ORPHAN_DIGEST.value]
    assert [str(a.orphaned_interview_ids[0]) for a in alerts] == orphan_ids[:5]
    assert [str(i) for i in digest.orphaned_interview_ids] == orphan_ids[5:]
    assert digest.next_attempt_at == alerts[0].created_at + timedelta(seconds=WINDOW_SECONDS)

    sent_at_once = await dispatcher.dispatch_once()

    assert await database_now(sessionmaker) < digest.next_attempt_at, (
        "this machine took longer than the window to get here; raise WINDOW_SECONDS"
    )
    assert sent_at_once == 5
    assert [r.subject for r in smtp.received] == [SUBJECT] * 5
    assert [_alerted(r, orphan_ids) for r in smtp.received] == orphan_ids[:5]

    async def digest_received() -> Received | None:
        await dispatcher.dispatch_once()
        return smtp.received[5] if len(smtp.received) > 5 else None

    received = await eventually(
        digest_received, "the digest", seconds=WINDOW_SECONDS + DEADLINE_SECONDS
    )

    assert received.recipients == ["ada@acme.example"]
    assert received.subject == "[Spring 2026] 2 more unmatched interview bookings"
    for body in (received.text, received.html):
        for n, orphan_id in ((6, orphan_ids[5]), (7, orphan_ids[6])):
            assert orphan_id in body
            assert f"stranger{n}@example.com" in body
            assert f"/cohorts/{cohort['id']}/orphaned-interviews/{orphan_id}" in body
        assert not any(orphan_id in body for orphan_id in orphan_ids[:5])
    [sent_digest] = [m for m in await outbox(sessionmaker) if m.id == digest.id]
    assert sent_digest.state == MessageState.SENT.value
    assert sent_digest.sent_at is not None
    assert sent_digest.sent_at >= digest.next_attempt_at
    assert len(smtp.received) == 6

    # The window has moved past the first alert: the next orphan is alerted on its own.
    eighth = await orphan_booking(client, cohort, 8)
    assert await dispatcher.dispatch_once() == 1
    assert smtp.received[-1].subject == SUBJECT
    assert _alerted(smtp.received[-1], [*orphan_ids, eighth]) == eighth


def _alerted(received: Received, orphan_ids: list[str]) -> str:
    [orphan_id] = [i for i in orphan_ids if i in received.text]
    return orphan_id


async def test_concurrent_orphans_get_no_more_alerts_than_the_limit(
    client: AsyncClient, tokens: Tokens, sessionmaker: SessionMaker, dispatcher: Dispatcher
) -> None:
    cohort = await one_admin_cohort(client, tokens, "ada@acme.example")

    orphan_ids = await asyncio.gather(*(orphan_booking(client, cohort, n) for n in range(8)))
    # Those that met another deciding the admin's alerts are decided by the dispatcher.
    await dispatcher.dispatch_once()

    messages = await outbox(sessionmaker)
    alerts = [m for m in messages if m.kind == MessageKind.ORPHAN_ALERT.value]
    [digest] = [m for m in messages if m.kind == MessageKind.ORPHAN_DIGEST.value]
    assert len(alerts) == 5
    assert len(digest.orphaned_interview_ids) == 3
    named = [str(i) for m in messages for i in m.orphaned_interview_ids]
    assert sorted(named) == sorted(orphan_ids)


async def test_each_admin_and_cohort_has_a_limit_of_its_own(
    client: AsyncClient, tokens: Tokens, cohort: Json, sessionmaker: SessionMaker
) -> None:
    other = await one_admin_cohort(client, tokens, "ada@acme.example")

    for n in range(5):
        await orphan_booking(client, cohort, n)
    for n in range(5):
        await orphan_booking(client, other, n)

    messages = await outbox(sessionmaker)
    assert len(messages) == 15
    assert {m.kind for m in messages} == {MessageKind.ORPHAN_ALERT.value}


class TestRecipientBusy:
    """Another transaction holds the admin's alert lock (deciding an orphan of its own) while
    a burst of orphans arrives: none of them waits for it with a pooled connection."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={
                "database_webhook_pool_size": 2,
                "database_pool_timeout_seconds": 2.0,
                "alert_digest_max_orphans": 4,
            }
        )

    async def test_many_orphans_at_once_neither_exhaust_the_pool_nor_duplicate_alerts(
        self,
        client: AsyncClient,
        tokens: Tokens,
        sessionmaker: SessionMaker,
        dispatcher: Dispatcher,
        smtp: SmtpServer,
    ) -> None:
        cohort = await one_admin_cohort(client, tokens, "ada@acme.example")

        async with sessionmaker() as holder, holder.begin():
            await OutboxRepository(holder).lock_recipient(
                uuid.UUID(cohort["id"]), "ada@acme.example"
            )
            # Six deliveries per pooled connection, each answered while the lock is held.
            orphan_ids = await asyncio.gather(
                *(orphan_booking(client, cohort, n) for n in range(12))
            )

        assert await dispatcher.dispatch_once() == 5
        messages = await outbox(sessionmaker)
        alerts = [m for m in messages if m.kind == MessageKind.ORPHAN_ALERT.value]
        digests = [m for m in messages if m.kind == MessageKind.ORPHAN_DIGEST.value]
        assert len(alerts) == len(smtp.received) == 5
        assert {m.state for m in alerts} == {MessageState.SENT.value}
        assert sorted(len(d.orphaned_interview_ids) for d in digests) == [3, 4]
        assert len(messages) == 7, "every undecided message became an alert or went"
        named = [str(i) for m in messages for i in m.orphaned_interview_ids]
        assert sorted(named) == sorted(orphan_ids)
        due = min(a.created_at for a in alerts) + timedelta(seconds=WINDOW_SECONDS)
        assert {d.next_attempt_at for d in digests} == {due}


class TestLongBurst:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"alert_digest_max_orphans": 2})

    async def test_a_full_digest_is_followed_by_another_due_at_the_same_time(
        self,
        client: AsyncClient,
        tokens: Tokens,
        dispatcher: Dispatcher,
        sessionmaker: SessionMaker,
        smtp: SmtpServer,
    ) -> None:
        cohort = await one_admin_cohort(client, tokens, "ada@acme.example")

        orphan_ids = [await orphan_booking(client, cohort, n) for n in range(1, 11)]

        messages = await outbox(sessionmaker)
        digests = [m for m in messages if m.kind == MessageKind.ORPHAN_DIGEST.value]
        assert [[str(i) for i in d.orphaned_interview_ids] for d in digests] == [
            orphan_ids[5:7],
            orphan_ids[7:9],
            orphan_ids[9:],
        ]
        assert len({d.next_attempt_at for d in digests}) == 1

        async def digests_received() -> list[Received] | None:
            await dispatcher.dispatch_once()
            return smtp.received[5:] if len(smtp.received) == 8 else None

        received = await eventually(
            digests_received, "three digests", seconds=WINDOW_SECONDS + DEADLINE_SECONDS
        )
        assert sorted(r.subject for r in received) == [
            "[Spring 2026] 1 more unmatched interview booking",
            "[Spring 2026] 2 more unmatched interview bookings",
            "[Spring 2026] 2 more unmatched interview bookings",
        ]
        listed = sorted(i for r in received for i in orphan_ids[5:] if i in r.text)
        assert listed == sorted(orphan_ids[5:])
