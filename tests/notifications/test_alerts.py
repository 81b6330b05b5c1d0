"""Admin alerts for orphaned interviews, received by a real SMTP server (SPEC section 4)."""

import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from httpx import AsyncClient

from scheduling_service.config import Settings
from scheduling_service.db import SessionMaker
from scheduling_service.models import (
    MessageKind,
    MessageState,
    OrphanedInterview,
    OrphanState,
    OutboxMessage,
)
from scheduling_service.notifications.dispatcher import Dispatcher
from scheduling_service.notifications.service import enqueue_orphan_alerts
from scheduling_service.notifications.templates import render
from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import ADMINS, create_application
from tests.mail import SmtpServer
from tests.notifications.support import ALERT_FROM, APP_BASE_URL, Json, orphan_booking, outbox


async def test_orphaned_booking_emails_each_admin_the_booking_and_where_to_resolve_it(
    client: AsyncClient,
    cohort: Json,
    dispatcher: Dispatcher,
    sessionmaker: SessionMaker,
    smtp: SmtpServer,
) -> None:
    orphan_id = await orphan_booking(
        client, cohort, 1, uid="uid-jane", email="jane@elsewhere.example", name="Jane Doe"
    )
    assert smtp.received == []

    assert await dispatcher.dispatch_once() == 2

    assert sorted(r.recipients[0] for r in smtp.received) == ADMINS
    link = f"{APP_BASE_URL}/cohorts/{cohort['id']}/orphaned-interviews/{orphan_id}"
    for received in smtp.received:
        message = received.message
        assert received.recipients == [message["To"]]
        assert message["From"] == ALERT_FROM
        assert received.subject == (
            "[Spring 2026] Unmatched interview booking on Tue 12 May 2026 14:00 UTC"
        )
        for body in (received.text, received.html):
            assert "Spring 2026" in body
            assert "Jane Doe" in body
            assert "jane@elsewhere.example" in body
            assert "Tue 12 May 2026 14:00-14:30 UTC" in body
            assert "Tue 12 May 2026 10:00-10:30 EDT (America/New_York)" in body
            assert "https://app.cal.com/video/uid-jane" in body
            assert orphan_id in body
            assert link in body
        assert f'<a href="{link}">' in received.html
        assert '<a href="https://app.cal.com/video/uid-jane">' in received.html
    rows = await outbox(sessionmaker)
    assert [(r.state, r.attempts) for r in rows] == [(MessageState.SENT.value, 1)] * 2
    assert all(r.sent_at is not None for r in rows)

    assert await dispatcher.dispatch_once() == 0
    assert len(smtp.received) == 2


async def test_matched_booking_alerts_nobody(
    client: AsyncClient,
    tokens: Tokens,
    cohort: Json,
    dispatcher: Dispatcher,
    sessionmaker: SessionMaker,
    smtp: SmtpServer,
) -> None:
    await create_application(client, tokens, cohort, email="jane.doe@example.com")

    response = await deliver(client, cohort, booking(email="jane.doe@example.com"))

    assert response.json()["outcome"] == "matched"
    assert await dispatcher.dispatch_once() == 0
    assert smtp.received == []
    assert await outbox(sessionmaker) == []


def _new_orphan(cohort: Json) -> OrphanedInterview:
    start = datetime(2026, 5, 12, 14, tzinfo=UTC)
    return OrphanedInterview(
        cohort_id=uuid.UUID(cohort["id"]),
        state=OrphanState.OPEN.value,
        applicant_name="Jane Doe",
        applicant_email="jane@elsewhere.example",
        time_zone="Europe/Paris",
        booking_uid="uid-direct",
        start_time=start,
        end_time=start + timedelta(minutes=30),
        meeting_url=None,
    )


@pytest.mark.commits  # what is sent depends on the commit
async def test_alert_is_sent_only_once_its_transaction_commits(
    cohort: Json,
    settings: Settings,
    dispatcher: Dispatcher,
    sessionmaker: SessionMaker,
    smtp: SmtpServer,
) -> None:
    async with sessionmaker() as session, session.begin():
        orphan = _new_orphan(cohort)
        session.add(orphan)
        await session.flush()
        await enqueue_orphan_alerts(session, orphan.cohort_id, orphan.id, settings)

        assert await dispatcher.dispatch_once() == 0
        assert smtp.received == []

    assert await dispatcher.dispatch_once() == 2
    assert len(smtp.received) == 2
    assert "Tue 12 May 2026 16:00-16:30 CEST (Europe/Paris)" in smtp.received[0].text
    assert "Meeting link: none" in smtp.received[0].text


async def test_alert_of_a_rolled_back_transaction_is_never_sent(
    cohort: Json,
    settings: Settings,
    dispatcher: Dispatcher,
    sessionmaker: SessionMaker,
    smtp: SmtpServer,
) -> None:
    async with sessionmaker() as session:
        transaction = await session.begin()
        orphan = _new_orphan(cohort)
        session.add(orphan)
        await session.flush()
        await enqueue_orphan_alerts(session, orphan.cohort_id, orphan.id, settings)
        await transaction.rollback()

    assert await dispatcher.dispatch_once() == 0
    assert smtp.received == []
    assert await outbox(sessionmaker) == []


async def test_alert_shows_the_booking_as_it_is_when_sent(
    client: AsyncClient, cohort: Json, dispatcher: Dispatcher, smtp: SmtpServer
) -> None:
    orphan_id = await orphan_booking(client, cohort, 1, uid="uid-first")
    moved = booking(
        "BOOKING_RESCHEDULED",
        uid="uid-moved",
        reschedule_uid="uid-first",
        email="stranger1@example.com",
        name="Stranger 1",
        start="2026-05-20T09:00:00Z",
        end="2026-05-20T09:45:00Z",
        created_at="2026-05-05T10:00:00.000Z",
    )
    response = await deliver(client, cohort, moved)
    assert response.json()["orphaned_interview_id"] == orphan_id

    assert await dispatcher.dispatch_once() == 2

    for received in smtp.received:
        assert "Wed 20 May 2026 09:00-09:45 UTC" in received.text
        assert "https://app.cal.com/video/uid-moved" in received.text
        assert "14:00" not in received.text


async def test_alert_of_an_orphan_resolved_before_sending_says_so(
    client: AsyncClient, tokens: Tokens, cohort: Json, dispatcher: Dispatcher, smtp: SmtpServer
) -> None:
    orphan_id = await orphan_booking(client, cohort, 1)
    dismissed = await client.post(
        f"/v1/orphaned-interviews/{orphan_id}/dismiss",
        json={"reason": "a test booking"},
        headers=tokens("admin", cohort["organization_id"]),
    )
    assert dismissed.status_code == 200, dismissed.text

    assert await dispatcher.dispatch_once() == 2

    assert "No longer open: dismissed" in smtp.received[0].text


async def test_booking_values_are_escaped_in_html_and_kept_out_of_headers(
    client: AsyncClient, cohort: Json, dispatcher: Dispatcher, smtp: SmtpServer
) -> None:
    name = "<b>Eve</b> & Co\r\nBcc: victim@example.com"
    await orphan_booking(client, cohort, 1, name=name)

    assert await dispatcher.dispatch_once() == 2

    received = smtp.received[0]
    assert received.message["Bcc"] is None
    assert "Eve" not in received.subject
    assert "Applicant: <b>Eve</b> & Co Bcc: victim@example.com <stranger1" in received.text
    assert "<b>Eve</b>" not in received.html
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; Co" in received.html
    assert sorted(r.recipients[0] for r in smtp.received) == ADMINS


async def test_unknown_time_zone_is_named_and_the_utc_time_still_shown(
    client: AsyncClient, cohort: Json, dispatcher: Dispatcher, smtp: SmtpServer
) -> None:
    attendee = {"email": "x@example.com", "name": "X", "timeZone": "Mars/Olympus_Mons"}
    await orphan_booking(client, cohort, 1, email="x@example.com", attendees=[attendee])

    assert await dispatcher.dispatch_once() == 2

    text = smtp.received[0].text
    assert "Tue 12 May 2026 14:00-14:30 UTC" in text
    assert "the booker's time zone 'Mars/Olympus_Mons' is unknown" in text


async def test_orphans_at_the_earliest_and_latest_accepted_times_render_in_every_zone(
    client: AsyncClient, cohort: Json, dispatcher: Dispatcher, smtp: SmtpServer
) -> None:
    # A day inside Python's range (the webhook refuses anything closer, issue 11): shown in
    # the zones furthest west and east of UTC.
    extremes = [
        ("0001-01-02T00:00:00Z", "0001-01-02T00:30:00Z", "Etc/GMT+12"),
        ("9999-12-30T23:00:00Z", "9999-12-30T23:59:59Z", "Pacific/Kiritimati"),
    ]
    for n, (start, end, zone) in enumerate(extremes):
        email = f"edge{n}@example.com"
        attendee = {"email": email, "name": "Edge", "timeZone": zone}
        await orphan_booking(
            client, cohort, n, email=email, start=start, end=end, attendees=[attendee]
        )

    assert await dispatcher.dispatch_once() == 4

    texts = "\n".join(received.text for received in smtp.received)
    assert "Mon 01 Jan 1 12:00-12:30 -12 (Etc/GMT+12)" in texts
    assert "Fri 31 Dec 9999 13:00-13:59 +14 (Pacific/Kiritimati)" in texts


def test_text_no_encoding_can_write_is_replaced_and_the_alert_still_renders(
    settings: Settings,
) -> None:
    # Stored rows cannot hold a lone surrogate (PostgreSQL refuses it), but an alert must render
    # whatever its orphan holds: an exception here would leave it unsent on every attempt.
    orphan = _new_orphan({"id": str(uuid.uuid4())})
    orphan.id = uuid.uuid4()
    orphan.applicant_name = "Eve \ud800 Doe"
    message = OutboxMessage(
        id=uuid.uuid4(),
        kind=MessageKind.ORPHAN_ALERT.value,
        recipient="ada@acme.example",
        orphaned_interview_ids=[orphan.id],
    )

    raw = render(message, "Spring 2026", [orphan], settings).as_bytes()

    sent = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(sent, EmailMessage)
    text = sent.get_body(preferencelist=("plain",))
    assert text is not None
    assert "Applicant: Eve \N{REPLACEMENT CHARACTER} Doe <jane@elsewhere.example>" in (
        text.get_content()
    )
