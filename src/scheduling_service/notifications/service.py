"""Admin alerts about orphaned interviews, written to the outbox in the caller's transaction.

Each admin of the cohort's organization gets one alert per orphan, at most
`alert_limit_per_window` of them per cohort in any `alert_window_seconds` (a sliding window).
Orphans beyond that are gathered into one digest, due when the window lets the next alert
through; a digest does not count against the limit. A digest lists at most
`alert_digest_max_orphans`: a longer burst continues in another, due at the same time.
"""

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.config import Settings
from scheduling_service.models import MessageKind, OrphanedInterview, OutboxMessage
from scheduling_service.notifications.repository import OutboxRepository


async def enqueue_orphan_alerts(
    session: AsyncSession, orphan: OrphanedInterview, settings: Settings
) -> None:
    outbox = OutboxRepository(session)
    window = timedelta(seconds=settings.alert_window_seconds)
    # One lock order for every transaction, so concurrent orphans never deadlock on them.
    for recipient in sorted(set(await outbox.admin_emails(orphan.cohort_id))):
        await outbox.lock_recipient(orphan.cohort_id, recipient)
        full_until = await outbox.alert_window_full_until(
            orphan.cohort_id, recipient, settings.alert_limit_per_window, window
        )
        if full_until is None:
            outbox.add(_message(orphan, recipient, MessageKind.ORPHAN_ALERT))
        elif not await outbox.append_to_waiting_digest(
            orphan.cohort_id, recipient, orphan.id, settings.alert_digest_max_orphans
        ):
            digest = _message(orphan, recipient, MessageKind.ORPHAN_DIGEST)
            digest.next_attempt_at = full_until
            outbox.add(digest)
    await outbox.flush()


def _message(orphan: OrphanedInterview, recipient: str, kind: MessageKind) -> OutboxMessage:
    return OutboxMessage(
        cohort_id=orphan.cohort_id,
        recipient=recipient,
        kind=kind,
        orphaned_interview_ids=[orphan.id],
    )
