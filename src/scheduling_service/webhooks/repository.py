import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.models import Booking, WebhookEvent, WebhookOutcome
from scheduling_service.pagination import Keyset, split_page


class WebhookEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

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
    ) -> uuid.UUID | None:
        """Store the event; None when the cohort has it already.

        A concurrent copy waits here on the unique index until the first commits, then finds
        the conflict: that is what makes concurrent deliveries apply once.
        """
        statement = (
            insert(WebhookEvent)
            .values(
                id=uuid.uuid4(),
                cohort_id=cohort_id,
                event_id=event_id,
                trigger=trigger,
                raw_body=raw_body,
                outcome=outcome.value,
                reason=reason,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
            )
            .on_conflict_do_nothing(index_elements=["cohort_id", "event_id"])
            .returning(WebhookEvent.id)
        )
        inserted: uuid.UUID | None = await self.session.scalar(statement)
        return inserted

    async def set_outcome(
        self,
        row_id: uuid.UUID,
        outcome: WebhookOutcome,
        *,
        application_id: uuid.UUID | None,
        orphaned_interview_id: uuid.UUID | None,
    ) -> None:
        await self.session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == row_id)
            .values(
                outcome=outcome.value,
                application_id=application_id,
                orphaned_interview_id=orphaned_interview_id,
                reason=None,
                next_attempt_at=None,
            )
            .execution_options(synchronize_session=False)
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
                WebhookEvent.outcome == WebhookOutcome.FAILED.value,
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
            query = query.where(WebhookEvent.outcome == outcome.value)
        keyset = Keyset(WebhookEvent.received_at, WebhookEvent.id, newest_first=True)
        rows = (await self.session.scalars(keyset.apply(query, cursor, limit))).all()
        return split_page(rows, limit, lambda e: (e.received_at, e.id))


class BookingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_if_new(
        self,
        *,
        cohort_id: uuid.UUID,
        uid: str,
        applicant_email: str,
        state: str,
        applicant_name: str | None = None,
        time_zone: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        meeting_url: str | None = None,
        rescheduled_from_id: uuid.UUID | None = None,
    ) -> Booking | None:
        """Store a booking; None when (uid, applicant email) is known to the cohort already.

        A concurrent insert of the same booking waits on the unique index until the first
        transaction ends, so two deliveries of one booking never both apply it.
        """
        statement = (
            insert(Booking)
            .values(
                id=uuid.uuid4(),
                cohort_id=cohort_id,
                uid=uid,
                applicant_email=applicant_email,
                applicant_name=applicant_name,
                time_zone=time_zone,
                start_time=start_time,
                end_time=end_time,
                meeting_url=meeting_url,
                state=state,
                rescheduled_from_id=rescheduled_from_id,
            )
            .on_conflict_do_nothing(index_elements=["cohort_id", "uid", "applicant_email"])
            .returning(Booking)
        )
        booking: Booking | None = (await self.session.scalars(statement)).one_or_none()
        return booking

    async def find(
        self, cohort_id: uuid.UUID, uid: str, emails: Collection[str] | None = None
    ) -> list[Booking]:
        """The bookings of `uid`, optionally only those of the given attendees' emails."""
        query = select(Booking).where(Booking.cohort_id == cohort_id, Booking.uid == uid)
        if emails is not None:
            query = query.where(Booking.applicant_email.in_(list(emails)))
        return list((await self.session.scalars(query.order_by(Booking.created_at))).all())

    async def attach_orphan_bookings(self, orphan_id: uuid.UUID, application_id: uuid.UUID) -> None:
        """Every booking of the orphan now belongs to the application."""
        await self.session.execute(
            update(Booking)
            .where(Booking.orphaned_interview_id == orphan_id)
            .values(application_id=application_id)
            .execution_options(synchronize_session="fetch")
        )

    async def refresh(self, booking: Booking) -> Booking:
        """Re-read the booking: another transaction may have attached it since it was read."""
        fresh = await self.session.get(Booking, booking.id, populate_existing=True)
        assert fresh is not None, "bookings are never deleted while their cohort exists"
        return fresh

    async def lock(self, booking: Booking) -> Booking:
        """Take the row lock and re-read the booking: another event may have changed it."""
        locked = await self.session.get(
            Booking, booking.id, with_for_update=True, populate_existing=True
        )
        assert locked is not None, "bookings are never deleted while their cohort exists"
        return locked

    async def flush(self) -> None:
        await self.session.flush()
