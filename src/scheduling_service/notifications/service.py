"""Admin alerts about orphaned interviews, written to the outbox in the caller's transaction.

Each admin of the cohort's organization gets one alert per orphan, at most
`alert_limit_per_window` of them per cohort in any `alert_window_seconds` (a sliding window).
Orphans beyond that are gathered into one digest, due when the window lets the next alert
through; a digest does not count against the limit. A digest lists at most
`alert_digest_max_orphans`: a longer burst continues in another, due at the same time.

Deciding alert or digest is serialized per cohort and recipient by a lock held until the
deciding transaction ends. The orphan's own transaction only tries it: when another holds it
(a burst of orphans, webhooks and a reconciliation at once), waiting would hold a pooled
connection for the rest of the holder's transaction, and a queue of them held every
connection of the pool. So the orphan is written `orphan_undecided` instead, in the same
transaction (never lost), and the dispatcher decides it under the lock, with nothing else in
its transaction, once both have committed (`decide`).
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.config import Settings
from scheduling_service.models import MessageKind, OrphanedInterview, OutboxMessage
from scheduling_service.notifications.repository import OutboxRepository


async def enqueue_orphan_alerts(
    session: AsyncSession, orphan: OrphanedInterview, settings: Settings
) -> None:
    outbox = OutboxRepository(session)
    for recipient in sorted(set(await outbox.admin_emails(orphan.cohort_id))):
        message = OutboxMessage(
            cohort_id=orphan.cohort_id,
            recipient=recipient,
            kind=MessageKind.ORPHAN_UNDECIDED,
            orphaned_interview_ids=[orphan.id],
        )
        if not await outbox.try_lock_recipient(orphan.cohort_id, recipient):
            outbox.add(message)  # the dispatcher decides it
            continue
        full_until = await _window_full_until(outbox, settings, message)
        if full_until is None:
            message.kind = MessageKind.ORPHAN_ALERT
            outbox.add(message)
        else:
            await _into_digests(outbox, settings, message, [orphan.id], full_until)
    await outbox.flush()


# Undecided orphans of one recipient decided under one taking of their lock.
_DECIDED_PER_TRANSACTION = 500


async def decide(session: AsyncSession, message: OutboxMessage, settings: Settings) -> None:
    """The dispatcher's part: under the recipient's lock, decide `message` (undecided,
    claimed) and the recipient's next undecided ones, oldest first: each the alert it may
    be, then, once the window is full (it stays so within a transaction), all the others'
    orphans into digests at once, their messages deleted."""
    outbox = OutboxRepository(session)
    await outbox.lock_recipient(message.cohort_id, message.recipient)
    more = await outbox.undecided(
        message.cohort_id, message.recipient, _DECIDED_PER_TRANSACTION - 1
    )
    batch = [message, *(m for m in more if m.id != message.id)]
    while batch:
        full_until = await _window_full_until(outbox, settings, message)
        if full_until is not None:
            orphan_ids = [orphan_id for m in batch for orphan_id in m.orphaned_interview_ids]
            await _into_digests(outbox, settings, message, orphan_ids, full_until)
            await outbox.delete([m.id for m in batch])
            break
        alert = batch.pop(0)
        alert.kind = MessageKind.ORPHAN_ALERT
        # The window counts it from when it was decided; the next question counts it.
        alert.created_at = func.now()
        await outbox.flush()
    await outbox.flush()


async def _window_full_until(
    outbox: OutboxRepository, settings: Settings, message: OutboxMessage
) -> datetime | None:
    return await outbox.alert_window_full_until(
        message.cohort_id,
        message.recipient,
        settings.alert_limit_per_window,
        timedelta(seconds=settings.alert_window_seconds),
    )


async def _into_digests(
    outbox: OutboxRepository,
    settings: Settings,
    message: OutboxMessage,
    orphan_ids: list[uuid.UUID],
    due: datetime,
) -> None:
    """The orphans into the recipient's waiting digest, and the rest into new ones due when
    the window lets the next alert through, `alert_digest_max_orphans` each."""
    left = await outbox.append_to_waiting_digest(
        message.cohort_id, message.recipient, orphan_ids, settings.alert_digest_max_orphans
    )
    size = settings.alert_digest_max_orphans
    for first in range(0, len(left), size):
        outbox.add(
            OutboxMessage(
                cohort_id=message.cohort_id,
                recipient=message.recipient,
                kind=MessageKind.ORPHAN_DIGEST,
                orphaned_interview_ids=left[first : first + size],
                next_attempt_at=due,
            )
        )
