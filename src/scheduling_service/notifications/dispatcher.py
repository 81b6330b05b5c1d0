"""Sending the outbox after the transactions that wrote it commit.

Each message is claimed, sent and marked in one transaction that holds its row lock, with
`SKIP LOCKED`, so any number of dispatchers (the app's, `scheduling-service worker`s) share
the work and none sends a message another is sending or has sent. A failed attempt is retried
with exponential backoff until `outbox_max_attempts`, then the message is `failed`. An
`orphan_undecided` message is decided first (alert or digest), in a transaction of its own.
"""

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import metrics
from scheduling_service.backoff import exponential_backoff
from scheduling_service.config import Settings
from scheduling_service.db import SessionMaker, run_in_transaction
from scheduling_service.models import MessageKind, MessageState, OutboxMessage
from scheduling_service.notifications.repository import OutboxRepository
from scheduling_service.notifications.sender import Sender
from scheduling_service.notifications.service import decide
from scheduling_service.notifications.templates import render
from scheduling_service.periodic import run_periodically

logger = logging.getLogger(__name__)

# An orphan's alert decided (notifications/service.py): nothing sent, the pass goes on.
_DECIDED = object()


class Dispatcher:
    def __init__(self, sessionmaker: SessionMaker, settings: Settings, sender: Sender) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.sender = sender

    async def run(self, stop: asyncio.Event) -> None:
        """Send due messages until `stop` is set; the message being sent then is finished."""
        await run_periodically(
            lambda: self.dispatch_once(stop),
            every=self.settings.dispatcher_poll_seconds,
            stop=stop,
            loop="dispatcher",
            what="an outbox dispatch pass",
        )

    async def dispatch_once(self, stop: asyncio.Event | None = None) -> int:
        """Send the messages due now; answers how many were sent.

        The pass ends at the first failed attempt: the mail server is likely down, and each
        further message would only wait for its own timeout.
        """
        sent = 0
        while stop is None or not stop.is_set():
            state = await run_in_transaction(self.sessionmaker, self._dispatch_next)
            if state is _DECIDED:
                continue
            if state is not MessageState.SENT:
                break
            sent += 1
        return sent

    async def _dispatch_next(self, session: AsyncSession) -> MessageState | object | None:
        """Attempt the next due message; answers its new state, `_DECIDED` when it was an
        orphan whose alert is now decided (sent by a later pass if it is one), None when
        none is due."""
        outbox = OutboxRepository(session)
        message = await outbox.claim_due()
        if message is None:
            return None
        if message.kind is MessageKind.ORPHAN_UNDECIDED:
            await decide(session, message, self.settings)
            return _DECIDED
        cohort = await outbox.cohort(message.cohort_id)
        assert cohort is not None, "a cohort's messages are deleted with it"
        orphans = await outbox.orphans(message.orphaned_interview_ids)
        try:
            await self.sender.send(render(message, cohort.name, orphans, self.settings))
        except Exception as error:
            # Counted at once: the attempt failed whether or not recording it commits.
            metrics.OUTBOX_SEND_FAILURES.inc()
            return await self._failed(outbox, message, error)
        await outbox.mark_sent(message.id)
        return MessageState.SENT

    async def _failed(
        self, outbox: OutboxRepository, message: OutboxMessage, error: Exception
    ) -> MessageState:
        attempts = message.attempts + 1
        reason = f"{type(error).__name__}: {error}"[:1000]
        if attempts >= self.settings.outbox_max_attempts:
            logger.error(
                "outbox message %s to %s failed %d times; giving up: %s",
                message.id,
                message.recipient,
                attempts,
                reason,
            )
            await outbox.record_failure(message.id, reason, retry_in=None)
            return MessageState.FAILED
        retry_in = retry_delay(self.settings, attempts)
        logger.warning(
            "outbox message %s failed (attempt %d), retried in %g s: %s",
            message.id,
            attempts,
            retry_in.total_seconds(),
            reason,
        )
        await outbox.record_failure(message.id, reason, retry_in=retry_in)
        return MessageState.PENDING


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """How long a message waits after its `attempts`-th failed attempt."""
    return exponential_backoff(
        attempts,
        base_seconds=settings.outbox_retry_base_seconds,
        max_seconds=settings.outbox_retry_max_seconds,
    )
