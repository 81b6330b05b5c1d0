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

from scheduling_service import driver
from scheduling_service.config import Settings
from scheduling_service.models import MessageKind, OutboxMessage
from scheduling_service.notifications.repository import NewMessage, OutboxRepository


async def enqueue_orphan_alerts(
    executor: driver.Executor, cohort_id: uuid.UUID, orphan_id: uuid.UUID, settings: Settings
) -> None:
    """Each admin's alert of the orphan, or its place in their digest; undecided, for the
    dispatcher to decide, when another transaction holds the admin's lock."""
    outbox = OutboxRepository(executor)
    recipients = sorted(set(await outbox.admin_emails(cohort_id)))
    if not recipients:
        return
    held = await outbox.try_lock_recipients(cohort_id, recipients)
    locked = [recipient for recipient, taken in zip(recipients, held, strict=True) if taken]
    messages = [
        NewMessage(cohort_id, recipient, MessageKind.ORPHAN_UNDECIDED, [orphan_id])
        for recipient, taken in zip(recipients, held, strict=True)
        if not taken
    ]
    if locked:
        windows = await outbox.alert_windows_full_until(
            cohort_id, locked, settings.alert_limit_per_window, _window(settings)
        )
        for recipient, full_until in zip(locked, windows, strict=True):
            if full_until is None:
                messages.append(
                    NewMessage(cohort_id, recipient, MessageKind.ORPHAN_ALERT, [orphan_id])
                )
            else:
                digests = await _into_digests(
                    outbox, settings, cohort_id, recipient, [orphan_id], full_until
                )
                messages.extend(digests)
    await outbox.insert(messages)


# Undecided orphans of one recipient decided under one taking of their lock.
_DECIDED_PER_TRANSACTION = 500


async def decide(session: AsyncSession, message: OutboxMessage, settings: Settings) -> None:
    """The dispatcher's part: under the recipient's lock, decide `message` (undecided,
    claimed) and the recipient's next undecided ones, oldest first: each the alert it may
    be, then, once the window is full (it stays so within a transaction), all the others'
    orphans into digests at once, their messages deleted."""
    outbox = OutboxRepository(session)
    cohort_id, recipient = message.cohort_id, message.recipient
    await outbox.lock_recipient(cohort_id, recipient)
    more = await outbox.undecided(cohort_id, recipient, _DECIDED_PER_TRANSACTION - 1)
    batch = [message, *(m for m in more if m.id != message.id)]
    while batch:
        [full_until] = await outbox.alert_windows_full_until(
            cohort_id, [recipient], settings.alert_limit_per_window, _window(settings)
        )
        if full_until is not None:
            orphan_ids = [orphan_id for m in batch for orphan_id in m.orphaned_interview_ids]
            await outbox.insert(
                await _into_digests(outbox, settings, cohort_id, recipient, orphan_ids, full_until)
            )
            await outbox.delete([m.id for m in batch])
            break
        alert = batch.pop(0)
        alert.kind = MessageKind.ORPHAN_ALERT
        # The window counts it from when it was decided; the next question counts it.
        alert.created_at = func.now()
        await outbox.flush()
    await outbox.flush()


def _window(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.alert_window_seconds)


async def _into_digests(
    outbox: OutboxRepository,
    settings: Settings,
    cohort_id: uuid.UUID,
    recipient: str,
    orphan_ids: list[uuid.UUID],
    due: datetime,
) -> list[NewMessage]:
    """The orphans into the recipient's waiting digest; answers the new digests the rest
    need, due when the window lets the next alert through, `alert_digest_max_orphans` each."""
    left = await outbox.append_to_waiting_digest(
        cohort_id, recipient, orphan_ids, settings.alert_digest_max_orphans
    )
    size = settings.alert_digest_max_orphans
    return [
        NewMessage(cohort_id, recipient, MessageKind.ORPHAN_DIGEST, left[first : first + size], due)
        for first in range(0, len(left), size)
    ]
