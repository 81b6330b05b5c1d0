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

from datetime import timedelta

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
            kind=MessageKind.ORPHAN_UNDECIDED.value,
            orphaned_interview_ids=[orphan.id],
        )
        locked = await outbox.try_lock_recipient(orphan.cohort_id, recipient)
        if not (locked and await _into_digest(outbox, settings, message)):
            outbox.add(message)  # an alert, or undecided when the lock was busy
    await outbox.flush()


# Undecided orphans of one recipient decided under one taking of their lock.
_DECIDED_PER_TRANSACTION = 100


async def decide(session: AsyncSession, message: OutboxMessage, settings: Settings) -> None:
    """The dispatcher's part: under the recipient's lock, make `message` (undecided, claimed)
    and the recipient's next undecided ones, oldest first, each the alert it may be, or add
    its orphan to a digest (deleting the message)."""
    outbox = OutboxRepository(session)
    await outbox.lock_recipient(message.cohort_id, message.recipient)
    more = await outbox.undecided(
        message.cohort_id, message.recipient, _DECIDED_PER_TRANSACTION - 1
    )
    for undecided in [message, *(m for m in more if m.id != message.id)]:
        if await _into_digest(outbox, settings, undecided):
            await session.delete(undecided)
        else:
            # An alert from now on: the window counts it from when it was decided.
            undecided.created_at = func.now()
        # Each decision is counted by the next one's questions.
        await outbox.flush()


async def _into_digest(
    outbox: OutboxRepository, settings: Settings, message: OutboxMessage
) -> bool:
    """With the recipient's lock held: False when the message may be an alert (it is made
    one); True when its orphan went into a digest instead (a waiting one, or a new one)."""
    window = timedelta(seconds=settings.alert_window_seconds)
    full_until = await outbox.alert_window_full_until(
        message.cohort_id, message.recipient, settings.alert_limit_per_window, window
    )
    if full_until is None:
        message.kind = MessageKind.ORPHAN_ALERT.value
        return False
    [orphan_id] = message.orphaned_interview_ids
    if not await outbox.append_to_waiting_digest(
        message.cohort_id, message.recipient, orphan_id, settings.alert_digest_max_orphans
    ):
        outbox.add(
            OutboxMessage(
                cohort_id=message.cohort_id,
                recipient=message.recipient,
                kind=MessageKind.ORPHAN_DIGEST.value,
                orphaned_interview_ids=[orphan_id],
                next_attempt_at=full_until,
            )
        )
    return True
