"""Applying one Cal.com booking event to the cohort's applications and orphaned interviews.

Matching follows SPEC section 3: the booking uid already known to the service, then
`metadata.applicationId`, then the applicant's email (or an alias an admin taught us). Each
booking (uid, applicant email) is stored once, so a second delivery of the same booking change
finds it applied already; concurrent copies meet at that unique index. Rows are locked in one
order, orphaned interview, application, then booking, so events and manual matches do not
deadlock.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.applications.repository import ApplicationRepository
from scheduling_service.applications.service import Cause, InterviewSlot, apply_booking
from scheduling_service.calcom import delivery as calcom
from scheduling_service.config import Settings
from scheduling_service.models import (
    Application,
    Booking,
    BookingState,
    HistoryCause,
    WebhookOutcome,
)
from scheduling_service.orphans import service as orphans
from scheduling_service.pipeline import BookingEvent
from scheduling_service.webhooks.repository import BookingRepository

CALCOM_ACTOR = "calcom"


@dataclass(frozen=True)
class Outcome:
    outcome: WebhookOutcome
    application_id: uuid.UUID | None = None
    orphaned_interview_id: uuid.UUID | None = None


class BookingApplier:
    """Applies one booking event of one cohort (SPEC section 3, matching and effects)."""

    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        cohort_id: uuid.UUID,
        event_id: str,
        event_row_id: uuid.UUID,
    ) -> None:
        self.session = session
        self.settings = settings
        self.cohort_id = cohort_id
        self.event_row_id = event_row_id
        self.bookings = BookingRepository(session)
        self.applications = ApplicationRepository(session)
        self.cause = Cause(HistoryCause.WEBHOOK, CALCOM_ACTOR, event_id=event_id)

    async def apply(self, trigger: calcom.Trigger, booking: calcom.Booking) -> Outcome:
        if trigger is calcom.Trigger.BOOKING_CANCELLED:
            return await self.cancelled(booking)
        if trigger is calcom.Trigger.BOOKING_RESCHEDULED and booking.reschedule_uid:
            return await self.rescheduled(booking, booking.reschedule_uid)
        return await self.created(booking)

    async def created(
        self, booking: calcom.Booking, rescheduled_from: Booking | None = None
    ) -> Outcome:
        row = await self._insert(booking, rescheduled_from)
        if row is None:
            return await self._already_known(booking)
        application = await self._match(booking)
        if application is None:
            orphan = await orphans.open_orphan(
                self.session, self.cohort_id, row, self.event_row_id, self.settings
            )
            return Outcome(WebhookOutcome.ORPHANED, orphaned_interview_id=orphan.id)
        row.application_id = application.id
        await apply_booking(
            self.session, application, BookingEvent.CREATED, _slot(booking), self.cause
        )
        return Outcome(WebhookOutcome.MATCHED, application_id=application.id)

    async def rescheduled(self, booking: calcom.Booking, original_uid: str) -> Outcome:
        candidates = await self.bookings.find(self.cohort_id, original_uid)
        original = next(
            (b for b in candidates if b.applicant_email == booking.applicant_email),
            candidates[0] if candidates else None,
        )
        if original is None:
            outcome = await self.created(booking)
            if outcome.outcome is not WebhookOutcome.DUPLICATE:
                # Remember the replaced booking, so its creation arriving late is not applied.
                await self.bookings.insert_if_new(
                    cohort_id=self.cohort_id,
                    uid=original_uid,
                    applicant_email=booking.applicant_email,
                    state=BookingState.RESCHEDULED.value,
                )
            return outcome
        original = await self._settle(original)
        if original.application_id is None and original.orphaned_interview_id is None:
            # Only a cancellation that came first knows this uid: nothing to follow.
            return await self.created(booking, rescheduled_from=original)
        row = await self._insert(booking, original)
        if row is None:
            return await self._already_known(booking)
        if original.application_id is not None:
            application = await self._lock_application(original.application_id)
            await self._supersede(original)
            row.application_id = application.id
            await apply_booking(
                self.session,
                application,
                BookingEvent.RESCHEDULED,
                _slot(booking),
                self.cause,
                replaces_uid=original_uid,
            )
            return Outcome(WebhookOutcome.MATCHED, application_id=application.id)
        assert original.orphaned_interview_id is not None
        orphan = await orphans.follow_reschedule(self.session, original.orphaned_interview_id, row)
        await self._supersede(original)
        return Outcome(WebhookOutcome.ORPHANED, orphaned_interview_id=orphan.id)

    async def cancelled(self, booking: calcom.Booking) -> Outcome:
        # A seated event shares one uid among its attendees: only those named are cancelled.
        emails = (booking.attendee_emails or (booking.applicant_email,)) if booking.seated else None
        rows = await self.bookings.find(self.cohort_id, booking.uid, emails)
        if not rows:
            remembered = await self.bookings.insert_if_new(
                cohort_id=self.cohort_id,
                uid=booking.uid,
                applicant_email=booking.applicant_email,
                applicant_name=booking.applicant_name,
                start_time=booking.start_time,
                end_time=booking.end_time,
                state=BookingState.CANCELLED.value,
            )
            if remembered is not None:
                return Outcome(WebhookOutcome.IGNORED)
            # A concurrent delivery stored this booking first; it is visible now.
            rows = await self.bookings.find(self.cohort_id, booking.uid, emails)
        outcomes = [await self._cancel(row) for row in rows]
        changed = [o for o in outcomes if o.outcome is not WebhookOutcome.DUPLICATE]
        return (changed or outcomes)[0]

    async def _cancel(self, row: Booking) -> Outcome:
        row = await self._settle(row)
        application = None
        if row.application_id is not None:
            application = await self._lock_application(row.application_id)
        row = await self.bookings.lock(row)
        already_cancelled = row.state == BookingState.CANCELLED.value
        row.state = BookingState.CANCELLED.value
        if application is not None:
            if not already_cancelled:
                await apply_booking(
                    self.session, application, BookingEvent.CANCELLED, _row_slot(row), self.cause
                )
            outcome = WebhookOutcome.DUPLICATE if already_cancelled else WebhookOutcome.MATCHED
            return Outcome(outcome, application_id=application.id)
        if row.orphaned_interview_id is not None:
            if not already_cancelled:
                await orphans.cancel_orphan(self.session, row.orphaned_interview_id)
            outcome = WebhookOutcome.DUPLICATE if already_cancelled else WebhookOutcome.ORPHANED
            return Outcome(outcome, orphaned_interview_id=row.orphaned_interview_id)
        return Outcome(WebhookOutcome.IGNORED)

    async def _insert(
        self, booking: calcom.Booking, rescheduled_from: Booking | None
    ) -> Booking | None:
        return await self.bookings.insert_if_new(
            cohort_id=self.cohort_id,
            uid=booking.uid,
            applicant_email=booking.applicant_email,
            applicant_name=booking.applicant_name,
            time_zone=booking.time_zone,
            start_time=booking.start_time,
            end_time=booking.end_time,
            meeting_url=booking.meeting_url,
            state=BookingState.ACTIVE.value,
            rescheduled_from_id=rescheduled_from.id if rescheduled_from else None,
        )

    async def _already_known(self, booking: calcom.Booking) -> Outcome:
        known = await self.bookings.find(self.cohort_id, booking.uid, [booking.applicant_email])
        row = known[0]
        if row.application_id is not None:
            return Outcome(WebhookOutcome.DUPLICATE, application_id=row.application_id)
        if row.orphaned_interview_id is not None:
            return Outcome(
                WebhookOutcome.DUPLICATE, orphaned_interview_id=row.orphaned_interview_id
            )
        # Its cancellation arrived first: the booking no longer exists in Cal.com.
        return Outcome(WebhookOutcome.IGNORED)

    async def _match(self, booking: calcom.Booking) -> Application | None:
        if booking.application_id_hint is not None:
            application = await self.applications.get_in_cohort(
                self.cohort_id, booking.application_id_hint, for_update=True
            )
            if application is not None:
                return application
        return await self.applications.find_by_email(
            self.cohort_id, booking.applicant_email, for_update=True
        )

    async def _settle(self, booking: Booking) -> Booking:
        """Lock an orphan's booking's orphan first, then re-read the booking: an admin may have
        matched the orphan meanwhile, and then the booking belongs to the application."""
        if booking.application_id is None and booking.orphaned_interview_id is not None:
            await orphans.lock_orphan(self.session, booking.orphaned_interview_id)
            return await self.bookings.refresh(booking)
        return booking

    async def _lock_application(self, application_id: uuid.UUID) -> Application:
        application = await self.applications.get(application_id, for_update=True)
        assert application is not None, "a booking's application is never deleted"
        return application

    async def _supersede(self, original: Booking) -> None:
        original = await self.bookings.lock(original)
        if original.state == BookingState.ACTIVE.value:
            original.state = BookingState.RESCHEDULED.value


def _slot(booking: calcom.Booking) -> InterviewSlot:
    return InterviewSlot(booking.uid, booking.start_time, booking.end_time, booking.meeting_url)


def _row_slot(row: Booking) -> InterviewSlot:
    assert row.start_time is not None and row.end_time is not None
    return InterviewSlot(row.uid, row.start_time, row.end_time, row.meeting_url)
