"""Applying one Cal.com booking event to the cohort's applications and orphaned interviews.

Matching follows SPEC section 3: the booking uid already known to the service, then
`metadata.applicationId`, then the applicant's email (or an alias an admin taught us). Each
booking (uid, applicant email) is stored once, so a second delivery of the same booking change
finds it applied already; concurrent copies meet at that unique index. Rows are locked in one
order, orphaned interview, application, then booking, so events and manual matches do not
deadlock.

This is the hot path: an application's changes are read and written with Core statements
rather than ORM objects, and the writes nobody reads back (the application, its history, the
bookings superseded or cancelled, the event's outcome) go out together at the end, as one
statement (`PendingWrites`).
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial

from scheduling_service import driver
from scheduling_service.applications.repository import (
    ApplicationRepository,
    ApplicationState,
)
from scheduling_service.bookings.effects import (
    Cause,
    InterviewSlot,
    no_show_after,
    plan_booking,
)
from scheduling_service.bookings.repository import BookingRepository, BookingRow
from scheduling_service.calcom import delivery as calcom
from scheduling_service.config import Settings
from scheduling_service.models import (
    BookingState,
    HistoryCause,
    WebhookOutcome,
)
from scheduling_service.orphans import service as orphans
from scheduling_service.pipeline import BookingEvent
from scheduling_service.webhooks.repository import WebhookEventRepository
from scheduling_service.writes import PendingWrites

CALCOM_ACTOR = "calcom"


@dataclass(frozen=True)
class Outcome:
    """What applying an event came to: `kind` is stored as the event's outcome."""

    kind: WebhookOutcome
    application_id: uuid.UUID | None = None
    orphaned_interview_id: uuid.UUID | None = None


class BookingApplier:
    """Applies one booking event of one cohort (SPEC section 3, matching and effects)."""

    def __init__(
        self,
        executor: driver.Executor,
        settings: Settings,
        cohort_id: uuid.UUID,
        event_id: str,
        event_row_id: uuid.UUID,
        cause: HistoryCause = HistoryCause.WEBHOOK,
    ) -> None:
        self.executor = executor
        self.settings = settings
        self.cohort_id = cohort_id
        self.event_row_id = event_row_id
        self.bookings = BookingRepository(executor)
        self.applications = ApplicationRepository(executor)
        self.writes = PendingWrites(executor)
        self.cause = Cause(cause, CALCOM_ACTOR, event_id=event_id)
        # The outcome when the pending writes' gate finds the change applied already.
        self._otherwise: Callable[[], Awaitable[Outcome]] | None = None

    async def apply(self, trigger: calcom.Trigger, booking: calcom.Booking) -> Outcome:
        """Apply the event and record its outcome on the event's row."""
        # Cal.com's cancellation or rescheduling reason goes on the history entries it causes.
        self.cause = replace(self.cause, reason=booking.reason)
        if trigger is calcom.Trigger.BOOKING_CANCELLED:
            outcome = await self.cancelled(booking)
        elif trigger is calcom.Trigger.BOOKING_RESCHEDULED and booking.reschedule_uid:
            outcome = await self.rescheduled(booking, booking.reschedule_uid)
        else:
            outcome = await self.created(booking)
        self.writes.add(
            WebhookEventRepository.outcome_write(
                self.event_row_id,
                outcome.kind,
                application_id=outcome.application_id,
                orphaned_interview_id=outcome.orphaned_interview_id,
            )
        )
        if await self.writes.flush():
            return outcome
        # The booking was stored, or cancelled, already (a copy of this change): nothing was
        # written, the outcome included.
        assert self._otherwise is not None
        outcome = await self._otherwise()
        await WebhookEventRepository(self.executor).set_outcome(
            self.event_row_id,
            outcome.kind,
            application_id=outcome.application_id,
            orphaned_interview_id=outcome.orphaned_interview_id,
        )
        return outcome

    async def apply_no_show(self, no_show: calcom.NoShow) -> Outcome:
        """Record who Cal.com marks absent on each application whose interview is the booking,
        and the event's outcome: `matched` when a mark changed, `duplicate` when none did,
        `ignored` when the booking is no application's interview."""
        rows = await self.bookings.find(self.cohort_id, no_show.booking_uid)
        # A seated session's uid is shared: each application records its own booker's mark.
        seated = len(rows) > 1
        outcomes = []
        for row in rows:
            if row.application_id is None:
                continue
            interview = await self.applications.lock_interview(row.application_id)
            if interview is None or interview.booking_uid != no_show.booking_uid:
                continue
            marks = [m for m in no_show.attendees if not seated or m[0] == row.applicant_email]
            after = no_show_after(interview.no_show, marks, no_show.host)
            if after == interview.no_show:
                outcomes.append(Outcome(WebhookOutcome.DUPLICATE, row.application_id))
                continue
            for write in ApplicationRepository.no_show_writes(
                row.application_id, interview, after, self.cause
            ):
                self.writes.add(write)
            # Each application's writes go on their own (a seated session's share one flush).
            await self.writes.flush()
            outcomes.append(Outcome(WebhookOutcome.MATCHED, row.application_id))
        changed = [o for o in outcomes if o.kind is not WebhookOutcome.DUPLICATE]
        outcome = (changed or outcomes or [Outcome(WebhookOutcome.IGNORED)])[0]
        await WebhookEventRepository(self.executor).set_outcome(
            self.event_row_id,
            outcome.kind,
            application_id=outcome.application_id,
            orphaned_interview_id=outcome.orphaned_interview_id,
        )
        return outcome

    async def created(
        self, booking: calcom.Booking, rescheduled_from: BookingRow | None = None
    ) -> Outcome:
        # The application first (lock order: application, then booking); a concurrent copy
        # waits here, then finds the booking stored.
        application = await self._match(booking)
        if application is None:
            row = await self._insert(booking, rescheduled_from)
            if row is None:
                return await self._already_known(booking)
            orphan_id = await orphans.open_orphan(
                self.executor,
                self.cohort_id,
                row,
                applicant_name=booking.applicant_name,
                time_zone=booking.time_zone,
                webhook_event_id=self.event_row_id,
                settings=self.settings,
            )
            return Outcome(WebhookOutcome.ORPHANED, orphaned_interview_id=orphan_id)
        besides = [booking.uid, *([rescheduled_from.uid] if rescheduled_from else [])]
        other = await self._other_live(application, besides)
        self._store(booking, application, rescheduled_from)
        self._apply_booking(application, BookingEvent.CREATED, _slot(booking), other_live=other)
        return Outcome(WebhookOutcome.MATCHED, application_id=application.id)

    async def rescheduled(self, booking: calcom.Booking, original_uid: str) -> Outcome:
        if booking.seated:
            return await self._seats_rescheduled(booking, original_uid)
        candidates = await self.bookings.find(self.cohort_id, original_uid)
        original = next(
            (b for b in candidates if b.applicant_email == booking.applicant_email),
            candidates[0] if candidates else None,
        )
        if original is None:
            return await self._rescheduled_unknown(booking, original_uid)
        return await self._move(booking, original)

    async def _seats_rescheduled(self, booking: calcom.Booking, original_uid: str) -> Outcome:
        """A seated booking shares its uid among its seat holders: only the holders the
        reschedule lists move (one attendee moving their seat, or the host moving the whole
        session, when every holder is listed); `responses` may be the first holder's."""
        known = await self.bookings.find(self.cohort_id, original_uid)
        if not known:
            return await self._rescheduled_unknown(booking, original_uid)
        listed = booking.attendee_emails or (booking.applicant_email,)
        holders = [row for row in known if row.applicant_email in listed]
        if not holders:
            # The attendee holds no seat there: a booking of their own, never another's seat.
            return await self.created(booking)
        if len(holders) == 1:
            [holder] = holders
            return await self._move(_seat_of(booking, holder.applicant_email), holder)
        outcomes = []
        for holder in holders:
            outcome = await self._move(_seat_of(booking, holder.applicant_email), holder)
            # Each seat's writes go on their own; a seat moved already writes nothing.
            if not await self.writes.flush():
                outcome = replace(outcome, kind=WebhookOutcome.DUPLICATE)
            outcomes.append(outcome)
        moved = [o for o in outcomes if o.kind is not WebhookOutcome.DUPLICATE]
        return (moved or outcomes)[0]

    async def _rescheduled_unknown(self, booking: calcom.Booking, original_uid: str) -> Outcome:
        outcome = await self.created(booking)
        if outcome.kind is not WebhookOutcome.DUPLICATE:
            # Remember the replaced booking, so its creation arriving late is not applied
            # (with the new booking, and only if that one is new).
            self.writes.add(
                BookingRepository.store_write(
                    cohort_id=self.cohort_id,
                    uid=original_uid,
                    applicant_email=booking.applicant_email,
                    state=BookingState.RESCHEDULED,
                    remembered=True,
                )
            )
        return outcome

    async def _move(self, booking: calcom.Booking, original: BookingRow) -> Outcome:
        """The known booking `original` moved to `booking` (a new uid, or its own: a seated
        session moved in place)."""
        original = await self._settle(original)
        if original.application_id is None and original.orphaned_interview_id is None:
            # Only a cancellation that came first knows this uid: nothing to follow.
            if booking.uid == original.uid:
                return Outcome(WebhookOutcome.IGNORED)
            return await self.created(booking, rescheduled_from=original)
        if booking.uid == original.uid:
            return await self._move_in_place(booking, original)
        if original.application_id is not None:
            application = await self._lock_application(original.application_id)
            other = await self._other_live(application, [original.uid, booking.uid])
            self._store(booking, application, original)
            self._supersede(original)
            self._apply_booking(
                application,
                BookingEvent.RESCHEDULED,
                _slot(booking),
                replaces_uid=original.uid,
                replaces_live=original.state is BookingState.ACTIVE,
                other_live=other,
            )
            return Outcome(WebhookOutcome.MATCHED, application_id=application.id)
        row = await self._insert(booking, original)
        if row is None:
            return await self._already_known(booking)
        assert original.orphaned_interview_id is not None
        orphan_id = await orphans.follow_reschedule(
            self.executor, original.orphaned_interview_id, row
        )
        self._supersede(original)
        return Outcome(WebhookOutcome.ORPHANED, orphaned_interview_id=orphan_id)

    async def _move_in_place(self, booking: calcom.Booking, original: BookingRow) -> Outcome:
        """A seated session moved under its own uid: the seat's booking takes the new time,
        unless it has it already (a copy of this move) or was cancelled."""
        if original.application_id is not None:
            application = await self._lock_application(original.application_id)
            self.writes.gate_on(
                BookingRepository.move_write(
                    original.id, booking.start_time, booking.end_time, booking.meeting_url
                )
            )
            self._otherwise = partial(
                _known, Outcome(WebhookOutcome.DUPLICATE, application_id=application.id)
            )
            self._apply_booking(
                application,
                BookingEvent.RESCHEDULED,
                _slot(booking),
                replaces_uid=original.uid,
                replaces_live=original.state is BookingState.ACTIVE,
            )
            return Outcome(WebhookOutcome.MATCHED, application_id=application.id)
        assert original.orphaned_interview_id is not None
        row = await self.bookings.move(
            original.id, booking.start_time, booking.end_time, booking.meeting_url
        )
        if row is None:
            return Outcome(
                WebhookOutcome.DUPLICATE, orphaned_interview_id=original.orphaned_interview_id
            )
        orphan_id = await orphans.follow_reschedule(
            self.executor, original.orphaned_interview_id, row
        )
        return Outcome(WebhookOutcome.ORPHANED, orphaned_interview_id=orphan_id)

    async def cancelled(self, booking: calcom.Booking) -> Outcome:
        # A seated event shares one uid among its attendees: only those named are cancelled.
        emails = (booking.attendee_emails or (booking.applicant_email,)) if booking.seated else None
        rows = await self.bookings.find(self.cohort_id, booking.uid, emails)
        if not rows:
            # Remembered as cancelled, so a creation arriving late is not applied (for a
            # seated booking, each attendee named: none of them holds a seat we know of).
            remembered = [
                await self.bookings.insert_if_new(
                    cohort_id=self.cohort_id,
                    uid=booking.uid,
                    applicant_email=email,
                    applicant_name=booking.applicant_name,
                    start_time=booking.start_time,
                    end_time=booking.end_time,
                    state=BookingState.CANCELLED,
                )
                for email in emails or (booking.applicant_email,)
            ]
            if all(row is not None for row in remembered):
                return Outcome(WebhookOutcome.IGNORED)
            # A concurrent delivery stored this booking first; it is visible now.
            rows = await self.bookings.find(self.cohort_id, booking.uid, emails)
        outcomes = []
        for row in rows:
            # A seated event's bookings may share an application: the previous one's writes
            # go first (the last one's go with the outcome).
            await self.writes.flush()
            outcomes.append(await self._cancel(row, alone=len(rows) == 1))
        changed = [o for o in outcomes if o.kind is not WebhookOutcome.DUPLICATE]
        return (changed or outcomes or [Outcome(WebhookOutcome.IGNORED)])[0]

    async def _cancel(self, row: BookingRow, *, alone: bool) -> Outcome:
        row = await self._settle(row)
        if row.application_id is not None and alone:
            application = await self._lock_application(row.application_id)
            other = await self._fallback(application, row)
            # Cancelled here unless it is already: the rest is written only if it was not.
            self.writes.gate_on(BookingRepository.cancel_write(row.id))
            self._otherwise = partial(
                _known, Outcome(WebhookOutcome.DUPLICATE, application_id=application.id)
            )
            self._apply_booking(
                application, BookingEvent.CANCELLED, _row_slot(row), other_live=other
            )
            return Outcome(WebhookOutcome.MATCHED, application_id=application.id)
        if row.application_id is not None:
            application = await self._lock_application(row.application_id)
            other = await self._fallback(application, row)
            already_cancelled = await self.bookings.lock_state(row.id) is BookingState.CANCELLED
            if already_cancelled:
                return Outcome(WebhookOutcome.DUPLICATE, application_id=application.id)
            self.writes.add(BookingRepository.state_write(row.id, BookingState.CANCELLED))
            self._apply_booking(
                application, BookingEvent.CANCELLED, _row_slot(row), other_live=other
            )
            return Outcome(WebhookOutcome.MATCHED, application_id=application.id)
        already_cancelled = await self.bookings.lock_state(row.id) is BookingState.CANCELLED
        if not already_cancelled:
            self.writes.add(BookingRepository.state_write(row.id, BookingState.CANCELLED))
        if row.orphaned_interview_id is not None:
            if not already_cancelled:
                await orphans.cancel_orphan(self.executor, row.orphaned_interview_id)
            outcome = WebhookOutcome.DUPLICATE if already_cancelled else WebhookOutcome.ORPHANED
            return Outcome(outcome, orphaned_interview_id=row.orphaned_interview_id)
        return Outcome(WebhookOutcome.IGNORED)

    async def _insert(
        self, booking: calcom.Booking, rescheduled_from: BookingRow | None
    ) -> BookingRow | None:
        return await self.bookings.insert_if_new(
            cohort_id=self.cohort_id,
            uid=booking.uid,
            applicant_email=booking.applicant_email,
            applicant_name=booking.applicant_name,
            time_zone=booking.time_zone,
            start_time=booking.start_time,
            end_time=booking.end_time,
            meeting_url=booking.meeting_url,
            state=BookingState.ACTIVE,
            rescheduled_from_id=rescheduled_from.id if rescheduled_from else None,
        )

    def _store(
        self,
        booking: calcom.Booking,
        application: ApplicationState,
        rescheduled_from: BookingRow | None,
    ) -> None:
        """Store the booking as the application's, and write the rest only if it is new (a
        concurrent copy waits on the unique index, then writes nothing)."""
        self.writes.gate_on(
            BookingRepository.store_write(
                cohort_id=self.cohort_id,
                uid=booking.uid,
                applicant_email=booking.applicant_email,
                applicant_name=booking.applicant_name,
                time_zone=booking.time_zone,
                start_time=booking.start_time,
                end_time=booking.end_time,
                meeting_url=booking.meeting_url,
                state=BookingState.ACTIVE,
                application_id=application.id,
                rescheduled_from_id=rescheduled_from.id if rescheduled_from else None,
            )
        )
        self._otherwise = partial(self._already_known, booking)

    def _apply_booking(
        self,
        application: ApplicationState,
        event: BookingEvent,
        slot: InterviewSlot,
        *,
        replaces_uid: str | None = None,
        replaces_live: bool = False,
        other_live: BookingRow | None = None,
    ) -> None:
        """What `applications.service.apply_booking` does, as pending writes."""
        change = plan_booking(
            application.status,
            application.interview_booking_uid,
            event,
            slot,
            replaces_uid=replaces_uid,
            replaces_live=replaces_live,
            other_live=_row_slot(other_live) if other_live else None,
        )
        if change is not None:
            for write in ApplicationRepository.change_writes(application.id, change, self.cause):
                self.writes.add(write)

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

    async def _match(self, booking: calcom.Booking) -> ApplicationState | None:
        if booking.application_id_hint is not None:
            application = await self.applications.lock_state(
                booking.application_id_hint, cohort_id=self.cohort_id
            )
            if application is not None:
                return application
        return await self.applications.lock_state_by_email(self.cohort_id, booking.applicant_email)

    async def _settle(self, booking: BookingRow) -> BookingRow:
        """Lock an orphan's booking's orphan first, then re-read the booking: an admin may have
        matched the orphan meanwhile, and then the booking belongs to the application."""
        if booking.application_id is None and booking.orphaned_interview_id is not None:
            await orphans.lock_orphan(self.executor, booking.orphaned_interview_id)
            return await self.bookings.refresh(booking)
        return booking

    async def _lock_application(self, application_id: uuid.UUID) -> ApplicationState:
        application = await self.applications.lock_state(application_id)
        assert application is not None, "a booking's application is never deleted"
        return application

    async def _other_live(
        self, application: ApplicationState, besides: list[str]
    ) -> BookingRow | None:
        """The application's other live booking, when a booking scheduled anew would make a
        double booking. An application without an interview holds no live booking (the last
        one's cancellation cleared it), so the usual first booking costs no query."""
        current = application.interview_booking_uid
        if current is None or current in besides:
            return None
        return await self.bookings.latest_live(application.id, besides=besides)

    async def _fallback(self, application: ApplicationState, row: BookingRow) -> BookingRow | None:
        """The live booking the application falls back on if `row`, its interview, is
        cancelled (only the current interview's cancellation needs one)."""
        if application.interview_booking_uid != row.uid:
            return None
        return await self.bookings.latest_live(application.id, besides=[row.uid])

    def _supersede(self, original: BookingRow) -> None:
        """The original of a reschedule is no longer active (unless cancelled meanwhile)."""
        self.writes.add(
            BookingRepository.state_write(
                original.id, BookingState.RESCHEDULED, only_from=BookingState.ACTIVE
            )
        )


async def _known(outcome: Outcome) -> Outcome:
    return outcome


def _seat_of(booking: calcom.Booking, email: str) -> calcom.Booking:
    # A holder found by the emails listed is one of the attendees.
    return booking.as_seat_of(email) if email in booking.attendee_emails else booking


def _slot(booking: calcom.Booking) -> InterviewSlot:
    return InterviewSlot(booking.uid, booking.start_time, booking.end_time, booking.meeting_url)


def _row_slot(row: BookingRow) -> InterviewSlot:
    assert row.start_time is not None and row.end_time is not None
    return InterviewSlot(row.uid, row.start_time, row.end_time, row.meeting_url)
