"""Sending the outbox: retries through an SMTP outage, giving up, concurrent dispatchers."""

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from httpx import AsyncClient

from scheduling_service.config import Settings
from scheduling_service.db import SessionMaker, create_engine, create_sessionmaker
from scheduling_service.models import MessageState, OutboxMessage
from scheduling_service.notifications.dispatcher import Dispatcher, retry_delay
from scheduling_service.notifications.sender import create_sender
from tests.conftest import Tokens
from tests.factories import create_cohort, create_org
from tests.mail import Received, SmtpServer, eventually
from tests.notifications.support import one_admin_cohort, orphan_booking, outbox

# Real commits (tests/conftest.py): the dispatcher's own transactions and its waits on now()
pytestmark = pytest.mark.commits


def dispatcher_with(
    sessionmaker: SessionMaker, settings: Settings, **changes: object
) -> Dispatcher:
    changed = settings.model_copy(update=changes)
    return Dispatcher(sessionmaker, changed, create_sender(changed))


async def test_smtp_outage_delays_the_alert_which_is_then_delivered_exactly_once(
    client: AsyncClient,
    tokens: Tokens,
    settings: Settings,
    sessionmaker: SessionMaker,
    smtp: SmtpServer,
) -> None:
    dispatcher = dispatcher_with(
        sessionmaker, settings, outbox_retry_base_seconds=1.0, outbox_retry_max_seconds=1.0
    )
    cohort = await one_admin_cohort(client, tokens, "ada@acme.example")
    await orphan_booking(client, cohort, 1)
    smtp.stop()

    assert await dispatcher.dispatch_once() == 0

    [waiting] = await outbox(sessionmaker)
    assert (waiting.state, waiting.attempts) == (MessageState.PENDING.value, 1)
    assert waiting.last_error is not None
    assert waiting.last_error.startswith("SMTPConnectError")
    assert waiting.next_attempt_at >= waiting.created_at + timedelta(seconds=1)

    smtp.start()

    async def delivered() -> list[Received] | None:
        await dispatcher.dispatch_once()
        return smtp.received or None

    [received] = await eventually(delivered, "the alert after the outage")
    assert received.recipients == ["ada@acme.example"]
    assert await dispatcher.dispatch_once() == 0
    assert len(smtp.received) == 1
    [sent] = await outbox(sessionmaker)
    assert (sent.state, sent.attempts, sent.last_error) == (MessageState.SENT.value, 2, None)
    assert sent.sent_at is not None
    assert sent.sent_at >= waiting.next_attempt_at


async def test_alert_is_failed_after_its_last_attempt_and_never_sent_later(
    client: AsyncClient,
    tokens: Tokens,
    settings: Settings,
    sessionmaker: SessionMaker,
    smtp: SmtpServer,
) -> None:
    dispatcher = dispatcher_with(sessionmaker, settings, outbox_max_attempts=3)
    cohort = await one_admin_cohort(client, tokens, "ada@acme.example")
    await orphan_booking(client, cohort, 1)
    smtp.stop()

    async def failed() -> OutboxMessage | None:
        await dispatcher.dispatch_once()
        [message] = await outbox(sessionmaker)
        return message if message.state == MessageState.FAILED.value else None

    message = await eventually(failed, "the message to be failed")

    assert message.attempts == 3
    assert message.last_error is not None
    assert message.last_error.startswith("SMTPConnectError")
    smtp.start()
    assert await dispatcher.dispatch_once() == 0
    assert smtp.received == []


def test_retry_delay_doubles_from_the_base_up_to_the_maximum() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        outbox_retry_base_seconds=2,
        outbox_retry_max_seconds=600,
    )

    delays = [retry_delay(settings, attempts).total_seconds() for attempts in range(1, 12)]

    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]


async def test_two_dispatchers_at_once_send_each_message_exactly_once(
    client: AsyncClient,
    tokens: Tokens,
    settings: Settings,
    database_url: str,
    sessionmaker: SessionMaker,
    smtp: SmtpServer,
) -> None:
    admins = [f"admin{n}@acme.example" for n in range(4)]
    org = await create_org(client, tokens, name="Busy", admin_emails=admins)
    cohort = await create_cohort(client, tokens, org["id"])
    for n in range(5):
        await orphan_booking(client, cohort, n)
    messages = await outbox(sessionmaker)
    assert len(messages) == 20
    # Each send holds its message a while, so the two dispatchers surely overlap.
    smtp.mailbox.delay_seconds = 0.02
    # A second engine, as a second process would have.
    engine = create_engine(database_url, settings)
    try:
        first = dispatcher_with(sessionmaker, settings)
        second = dispatcher_with(create_sessionmaker(engine), settings)

        counts = await asyncio.gather(first.dispatch_once(), second.dispatch_once())
    finally:
        await engine.dispose()

    assert sum(counts) == 20
    assert min(counts) > 0, "one dispatcher did all the work: nothing ran concurrently"
    received = Counter(r.message["Message-ID"] for r in smtp.received)
    assert received == Counter(f"<{m.id}@scheduling.test>" for m in messages)
    assert {(r.recipients[0], r.message["To"]) for r in smtp.received} == {(a, a) for a in admins}
    assert {m.state for m in await outbox(sessionmaker)} == {MessageState.SENT.value}
