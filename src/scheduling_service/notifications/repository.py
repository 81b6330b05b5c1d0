import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import cast, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.models import (
    Cohort,
    MessageKind,
    MessageState,
    Organization,
    OrphanedInterview,
    OutboxMessage,
)


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def admin_emails(self, cohort_id: uuid.UUID) -> list[str]:
        query = (
            select(Organization.admin_emails)
            .join(Cohort, Cohort.organization_id == Organization.id)
            .where(Cohort.id == cohort_id)
        )
        emails: list[str] | None = await self.session.scalar(query)
        return list(emails or [])

    async def lock_recipient(self, cohort_id: uuid.UUID, recipient: str) -> None:
        """Hold, until the transaction ends, the lock that serializes alerting one recipient
        of one cohort, so concurrent orphans count each other against the rate limit."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": _recipient_key(cohort_id, recipient)},
        )

    async def try_lock_recipient(self, cohort_id: uuid.UUID, recipient: str) -> bool:
        """`lock_recipient` if nobody holds it; False at once otherwise, never waiting."""
        taken: bool | None = await self.session.scalar(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": _recipient_key(cohort_id, recipient)},
        )
        return bool(taken)

    async def alert_window_full_until(
        self, cohort_id: uuid.UUID, recipient: str, limit: int, window: timedelta
    ) -> datetime | None:
        """When the recipient may next get an individual alert of the cohort, if `limit`
        alerts were created within the last `window`; None when one may be sent now."""
        query = (
            select(OutboxMessage.created_at + window)
            .where(
                OutboxMessage.cohort_id == cohort_id,
                OutboxMessage.recipient == recipient,
                OutboxMessage.kind == MessageKind.ORPHAN_ALERT,
                OutboxMessage.created_at > func.now() - window,
            )
            .order_by(OutboxMessage.created_at.desc())
            .offset(limit - 1)
            .limit(1)
        )
        until: datetime | None = await self.session.scalar(query)
        return until

    async def append_to_waiting_digest(
        self,
        cohort_id: uuid.UUID,
        recipient: str,
        orphan_ids: Sequence[uuid.UUID],
        max_orphans: int,
    ) -> list[uuid.UUID]:
        """Add the orphans, as many as fit, to the recipient's digest that is not due yet
        and lists fewer than `max_orphans`; answers those that did not fit (all of them when
        there is no such digest).

        A digest the dispatcher is sending is locked, and skipped: no orphan is added to a
        message already sent, and no transaction waits for an email to go out.
        """
        waiting = (
            await self.session.execute(
                select(OutboxMessage.id, func.cardinality(OutboxMessage.orphaned_interview_ids))
                .where(
                    OutboxMessage.cohort_id == cohort_id,
                    OutboxMessage.recipient == recipient,
                    OutboxMessage.kind == MessageKind.ORPHAN_DIGEST,
                    OutboxMessage.state == MessageState.PENDING,
                    OutboxMessage.next_attempt_at > func.now(),
                    func.cardinality(OutboxMessage.orphaned_interview_ids) < max_orphans,
                )
                .order_by(OutboxMessage.created_at.desc())
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if waiting is None:
            return list(orphan_ids)
        digest_id, listed = waiting
        room = max_orphans - listed
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == digest_id)
            .values(
                orphaned_interview_ids=func.array_cat(
                    OutboxMessage.orphaned_interview_ids,
                    cast(list(orphan_ids[:room]), ARRAY(UUID(as_uuid=True))),
                )
            )
            .execution_options(synchronize_session=False)
        )
        return list(orphan_ids[room:])

    async def delete(self, message_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids))
            .execution_options(synchronize_session=False)
        )

    def add(self, message: OutboxMessage) -> None:
        self.session.add(message)

    async def flush(self) -> None:
        await self.session.flush()

    async def claim_due(self) -> OutboxMessage | None:
        """Lock one pending message that is due and that no other dispatcher is sending."""
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.state == MessageState.PENDING,
                OutboxMessage.next_attempt_at <= func.now(),
            )
            .order_by(OutboxMessage.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        message: OutboxMessage | None = await self.session.scalar(query)
        return message

    async def undecided(
        self, cohort_id: uuid.UUID, recipient: str, limit: int
    ) -> list[OutboxMessage]:
        """The recipient's oldest undecided orphans that no other dispatcher is deciding,
        locked."""
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.cohort_id == cohort_id,
                OutboxMessage.recipient == recipient,
                OutboxMessage.kind == MessageKind.ORPHAN_UNDECIDED,
                OutboxMessage.state == MessageState.PENDING,
            )
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(query)).all())

    async def cohort(self, cohort_id: uuid.UUID) -> Cohort | None:
        return await self.session.get(Cohort, cohort_id)

    async def orphans(self, orphan_ids: Sequence[uuid.UUID]) -> list[OrphanedInterview]:
        query = (
            select(OrphanedInterview)
            .where(OrphanedInterview.id.in_(orphan_ids))
            .order_by(OrphanedInterview.created_at, OrphanedInterview.id)
        )
        return list((await self.session.scalars(query)).all())

    async def mark_sent(self, message_id: uuid.UUID) -> None:
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(
                state=MessageState.SENT,
                attempts=OutboxMessage.attempts + 1,
                sent_at=func.now(),
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )

    async def record_failure(
        self, message_id: uuid.UUID, error: str, retry_in: timedelta | None
    ) -> None:
        """Count a failed attempt: retry after `retry_in`, or give up when it is None."""
        values: dict[str, object] = {
            "attempts": OutboxMessage.attempts + 1,
            "last_error": error,
        }
        if retry_in is None:
            values["state"] = MessageState.FAILED
        else:
            # The clock at the failure, not the transaction's start: a slow attempt must not
            # leave the message due again at once.
            values["next_attempt_at"] = func.clock_timestamp() + retry_in
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(values)
            .execution_options(synchronize_session=False)
        )


def _recipient_key(cohort_id: uuid.UUID, recipient: str) -> str:
    return f"outbox:{cohort_id}:{recipient}"
