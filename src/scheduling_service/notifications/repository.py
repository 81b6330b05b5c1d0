import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    DateTime,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver
from scheduling_service.models import (
    Cohort,
    MessageKind,
    MessageState,
    Organization,
    OrphanedInterview,
    OutboxMessage,
)

_outbox = typing.cast(Table, OutboxMessage.__table__)
_ORPHAN_IDS = ARRAY(UUID(as_uuid=True))

# The statements of an orphan's alerts, each one round trip on the transaction's connection.
_ADMIN_EMAILS = driver.Sql(
    select(Organization.admin_emails)
    .join(Cohort, Cohort.organization_id == Organization.id)
    .where(Cohort.id == bindparam("cohort_id"))
)
_LOCK = driver.Sql(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"))
# Several recipients' locks tried in one statement, each answered in the order asked.
_TRY_LOCKS = driver.Sql(
    text(
        "SELECT pg_try_advisory_xact_lock(hashtextextended(k.key, 0)) "
        "FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS k(key, n) ORDER BY k.n"
    )
)
# For each recipient, in the order asked: when the `skip`+1-th latest alert of the window
# leaves it, if there is one (the window is full until then).
_WINDOWS_FULL_UNTIL = driver.Sql(
    text(
        "SELECT (SELECT m.created_at + CAST(:window AS interval) FROM outbox_messages AS m "
        "WHERE m.cohort_id = :cohort_id AND m.recipient = r.recipient "
        "AND m.kind = :kind AND m.created_at > now() - CAST(:window AS interval) "
        "ORDER BY m.created_at DESC OFFSET :skip LIMIT 1) "
        "FROM unnest(CAST(:recipients AS text[])) WITH ORDINALITY AS r(recipient, n) "
        "ORDER BY r.n"
    )
)
_WAITING_DIGEST = driver.Sql(
    select(_outbox.c.id, func.cardinality(_outbox.c.orphaned_interview_ids))
    .where(
        _outbox.c.cohort_id == bindparam("cohort_id"),
        _outbox.c.recipient == bindparam("recipient"),
        _outbox.c.kind == MessageKind.ORPHAN_DIGEST,
        _outbox.c.state == MessageState.PENDING,
        _outbox.c.next_attempt_at > func.now(),
        func.cardinality(_outbox.c.orphaned_interview_ids) < bindparam("max_orphans"),
    )
    .order_by(_outbox.c.created_at.desc())
    .limit(1)
    .with_for_update(skip_locked=True)
)
_APPEND = driver.Sql(
    update(_outbox)
    .where(_outbox.c.id == bindparam("digest_id"))
    .values(
        orphaned_interview_ids=func.array_cat(
            _outbox.c.orphaned_interview_ids, bindparam("orphan_ids", type_=_ORPHAN_IDS)
        )
    )
)
_INSERT = driver.Sql(
    insert(_outbox).values(
        id=bindparam("id"),
        cohort_id=bindparam("cohort_id"),
        recipient=bindparam("recipient"),
        kind=bindparam("kind"),
        orphaned_interview_ids=bindparam("orphan_ids", type_=_ORPHAN_IDS),
        # Due now, unless a later time is given (a digest waits for the window).
        next_attempt_at=func.coalesce(
            bindparam("next_attempt_at", type_=DateTime(timezone=True)), func.now()
        ),
    )
)


@dataclass(frozen=True)
class NewMessage:
    """A message to write (`OutboxRepository.insert`)."""

    cohort_id: uuid.UUID
    recipient: str
    kind: MessageKind
    orphaned_interview_ids: list[uuid.UUID]
    next_attempt_at: datetime | None = None


class OutboxRepository:
    def __init__(self, executor: driver.Executor) -> None:
        self.executor = executor

    @property
    def session(self) -> AsyncSession:
        return driver.session_of(self.executor)

    async def admin_emails(self, cohort_id: uuid.UUID) -> list[str]:
        row = await driver.fetchrow(self.executor, _ADMIN_EMAILS, {"cohort_id": cohort_id})
        return list(row[0] or []) if row is not None else []

    async def lock_recipient(self, cohort_id: uuid.UUID, recipient: str) -> None:
        """Hold, until the transaction ends, the lock that serializes alerting one recipient
        of one cohort, so concurrent orphans count each other against the rate limit."""
        await driver.fetch(self.executor, _LOCK, {"key": _recipient_key(cohort_id, recipient)})

    async def try_lock_recipients(
        self, cohort_id: uuid.UUID, recipients: Sequence[str]
    ) -> list[bool]:
        """`lock_recipient` for each recipient nobody holds; never waiting. Answers, for
        each, whether its lock is now held."""
        keys = [_recipient_key(cohort_id, recipient) for recipient in recipients]
        rows = await driver.fetch(self.executor, _TRY_LOCKS, {"keys": keys})
        return [bool(row[0]) for row in rows]

    async def alert_windows_full_until(
        self, cohort_id: uuid.UUID, recipients: Sequence[str], limit: int, window: timedelta
    ) -> list[datetime | None]:
        """For each recipient, when they may next get an individual alert of the cohort, if
        `limit` alerts were created within the last `window`; None when one may be sent now."""
        values = {
            "cohort_id": cohort_id,
            "recipients": list(recipients),
            "window": window,
            "skip": limit - 1,
            "kind": MessageKind.ORPHAN_ALERT,
        }
        rows = await driver.fetch(self.executor, _WINDOWS_FULL_UNTIL, values)
        return [row[0] for row in rows]

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
        waiting = await driver.fetchrow(
            self.executor,
            _WAITING_DIGEST,
            {"cohort_id": cohort_id, "recipient": recipient, "max_orphans": max_orphans},
        )
        if waiting is None:
            return list(orphan_ids)
        digest_id, listed = waiting
        room = max_orphans - listed
        values = {"digest_id": digest_id, "orphan_ids": list(orphan_ids[:room])}
        await driver.fetch(self.executor, _APPEND, values)
        return list(orphan_ids[room:])

    async def insert(self, messages: Sequence[NewMessage]) -> None:
        """Write the messages, in one round trip."""
        if not messages:
            return
        await driver.executemany(
            self.executor,
            _INSERT,
            [
                {
                    "id": uuid.uuid4(),
                    "cohort_id": m.cohort_id,
                    "recipient": m.recipient,
                    "kind": m.kind,
                    "orphan_ids": m.orphaned_interview_ids,
                    "next_attempt_at": m.next_attempt_at,
                }
                for m in messages
            ],
        )

    async def delete(self, message_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids))
            .execution_options(synchronize_session=False)
        )

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
