import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    Update,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver, writes
from scheduling_service.models import (
    EventSource,
    WebhookEvent,
    WebhookOutcome,
)
from scheduling_service.pagination import Keyset, split_page
from scheduling_service.writes import Write

# The hot path's statements, built once with named bind parameters (`scheduling_service.writes`
# says why), named apart from the columns and from other tables' writes.
_events = cast(Table, WebhookEvent.__table__)
_EVENT_COLUMNS = (
    "cohort_id",
    "event_id",
    "trigger",
    "raw_body",
    "outcome",
    "reason",
    "attempts",
    "next_attempt_at",
    "source",
)
_INSERT_EVENT = (
    insert(_events)
    .values(
        id=bindparam("event_row_id"),
        **{c: bindparam(f"event_{c}", type_=_events.c[c].type) for c in _EVENT_COLUMNS},
    )
    .on_conflict_do_nothing(index_elements=["cohort_id", "event_id"])
)
_STORE_EVENT = driver.Sql(_INSERT_EVENT.returning(_events.c.id))
# Storing the event also sets the transaction's lock timeout, as `SET LOCAL` would, without a
# round trip of its own (RETURNING is evaluated only for a newly stored event).
_STORE_EVENT_SETTING_LOCK_TIMEOUT = driver.Sql(
    _INSERT_EVENT.returning(
        _events.c.id, func.set_config("lock_timeout", bindparam("lock_timeout"), True)
    )
)

_SET_LOCK_TIMEOUT = driver.Sql(
    select(func.set_config("lock_timeout", bindparam("lock_timeout"), True))
)


def _record_outcome(condition: ColumnElement[bool] | None) -> Update:
    statement = update(_events).where(_events.c.id == bindparam("outcome_row_id"))
    if condition is not None:
        statement = statement.where(condition)
    return statement.values(
        outcome=bindparam("outcome_outcome"),
        application_id=bindparam("outcome_application_id", type_=_events.c.application_id.type),
        orphaned_interview_id=bindparam(
            "outcome_orphaned_interview_id", type_=_events.c.orphaned_interview_id.type
        ),
        reason=None,
        next_attempt_at=None,
    )


class WebhookEventRepository:
    def __init__(self, executor: driver.Executor) -> None:
        self.executor = executor

    @property
    def session(self) -> AsyncSession:
        return driver.session_of(self.executor)

    async def insert_if_new(
        self,
        *,
        cohort_id: uuid.UUID,
        event_id: str,
        trigger: str | None,
        raw_body: bytes,
        outcome: WebhookOutcome,
        reason: str | None = None,
        attempts: int = 0,
        next_attempt_at: datetime | None = None,
        lock_timeout_ms: int | None = None,
        source: EventSource = EventSource.WEBHOOK,
    ) -> uuid.UUID | None:
        """Store the event; None when the cohort has it already.

        A concurrent copy waits here on the unique index until the first commits, then finds
        the conflict: that is what makes concurrent deliveries apply once. With
        `lock_timeout_ms`, a newly stored event also sets the transaction's `lock_timeout`
        for what follows (as `SET LOCAL` would, without a round trip of its own).
        """
        values = {
            "event_row_id": uuid.uuid4(),
            "event_cohort_id": cohort_id,
            "event_event_id": event_id,
            "event_trigger": trigger,
            "event_raw_body": raw_body,
            "event_outcome": outcome,
            "event_reason": reason,
            "event_attempts": attempts,
            "event_next_attempt_at": next_attempt_at,
            "event_source": source,
        }
        statement = _STORE_EVENT
        if lock_timeout_ms is not None:
            statement = _STORE_EVENT_SETTING_LOCK_TIMEOUT
            values["lock_timeout"] = str(int(lock_timeout_ms))
        row = await driver.fetchrow(self.executor, statement, values)
        return None if row is None else cast(uuid.UUID, row[0])

    async def set_lock_timeout(self, milliseconds: int) -> None:
        """For the rest of the transaction, as `SET LOCAL lock_timeout` does."""
        await driver.fetch(self.executor, _SET_LOCK_TIMEOUT, {"lock_timeout": str(milliseconds)})

    async def set_outcome(
        self,
        row_id: uuid.UUID,
        outcome: WebhookOutcome,
        *,
        application_id: uuid.UUID | None,
        orphaned_interview_id: uuid.UUID | None,
    ) -> None:
        write = self.outcome_write(
            row_id,
            outcome,
            application_id=application_id,
            orphaned_interview_id=orphaned_interview_id,
        )
        await writes.execute(self.executor, write)

    @staticmethod
    def outcome_write(
        row_id: uuid.UUID,
        outcome: WebhookOutcome,
        *,
        application_id: uuid.UUID | None,
        orphaned_interview_id: uuid.UUID | None,
    ) -> Write:
        """Record the event's outcome (and clear a failed one's retry)."""
        return Write(
            _record_outcome,
            {
                "outcome_row_id": row_id,
                "outcome_outcome": outcome,
                "outcome_application_id": application_id,
                "outcome_orphaned_interview_id": orphaned_interview_id,
            },
        )

    async def get(self, row_id: uuid.UUID, *, for_update: bool = False) -> WebhookEvent | None:
        return await self.session.get(
            WebhookEvent, row_id, with_for_update=for_update, populate_existing=True
        )

    async def claim_due_failure(self) -> WebhookEvent | None:
        """Lock one failed event due for a retry that no other process is retrying."""
        query = (
            select(WebhookEvent)
            .where(
                WebhookEvent.outcome == WebhookOutcome.FAILED,
                WebhookEvent.next_attempt_at <= func.now(),
            )
            .order_by(WebhookEvent.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        event: WebhookEvent | None = await self.session.scalar(query)
        return event

    async def list(
        self,
        cohort_id: uuid.UUID,
        outcome: WebhookOutcome | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[WebhookEvent], str | None]:
        query: Any = select(WebhookEvent).where(WebhookEvent.cohort_id == cohort_id)
        if outcome is not None:
            query = query.where(WebhookEvent.outcome == outcome)
        keyset = Keyset(WebhookEvent.received_at, WebhookEvent.id, newest_first=True)
        rows = (await self.session.scalars(keyset.apply(query, cursor, limit))).all()
        return split_page(rows, limit, lambda e: (e.received_at, e.id))
