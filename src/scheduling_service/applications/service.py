import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import pipeline
from scheduling_service.applications.repository import ApplicationRepository, HistoryRepository
from scheduling_service.applications.schemas import ApplicationCreate
from scheduling_service.auth import Principal
from scheduling_service.errors import NotFound
from scheduling_service.models import Application, HistoryCause, HistoryEntry, HistoryKind
from scheduling_service.organizations.service import get_cohort, get_cohort_as_admin
from scheduling_service.pipeline import BookingEvent, Concerns, InterviewChange, Status


@dataclass(frozen=True)
class InterviewSlot:
    booking_uid: str
    start_time: datetime
    end_time: datetime
    meeting_url: str | None
    no_show: dict[str, Any] | None = None
    """Who Cal.com marked absent: `{"attendees": [emails], "host": bool}`, or None."""

    def as_json(self) -> dict[str, Any]:
        return {
            "booking_uid": self.booking_uid,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat(),
            "meeting_url": self.meeting_url,
            "no_show": self.no_show,
        }


@dataclass(frozen=True)
class Cause:
    """Why an application changed, as its history records it."""

    kind: HistoryCause
    actor: str
    event_id: str | None = None
    reason: str | None = None
    orphaned_interview_id: uuid.UUID | None = None


@dataclass(frozen=True)
class ApplicationFilters:
    status: list[Status] | None = None
    stage: pipeline.Stage | None = None
    pipeline_state: pipeline.PipelineState | None = None
    text: str | None = None

    def statuses(self) -> set[str] | None:
        """The statuses every filter allows together; None when no filter narrows them."""
        allowed: set[Status] | None = None
        narrowing = [
            set(self.status) if self.status else None,
            set(pipeline.statuses_in_stage(self.stage)) if self.stage else None,
            set(pipeline.statuses_in_pipeline_state(self.pipeline_state))
            if self.pipeline_state
            else None,
        ]
        for statuses in narrowing:
            if statuses is not None:
                allowed = statuses if allowed is None else allowed & statuses
        return None if allowed is None else {s.value for s in allowed}


def current_interview(application: Application) -> InterviewSlot | None:
    if (
        application.interview_booking_uid is None
        or application.interview_start_time is None
        or application.interview_end_time is None
    ):
        return None
    return InterviewSlot(
        application.interview_booking_uid,
        application.interview_start_time,
        application.interview_end_time,
        application.interview_meeting_url,
        application.interview_no_show,
    )


def no_show_after(
    current: dict[str, Any] | None, attendees: Iterable[tuple[str, bool]], host: bool | None
) -> dict[str, Any] | None:
    """An interview's no-show after Cal.com sets or clears marks (`attendees` as (email,
    absent), `host` when sent); None when nobody is marked absent any more."""
    absent = set(current["attendees"]) if current else set()
    host_absent = bool(current and current["host"])
    for email, is_absent in attendees:
        if is_absent:
            absent.add(email)
        else:
            absent.discard(email)
    if host is not None:
        host_absent = host
    if not absent and not host_absent:
        return None
    return {"attendees": sorted(absent), "host": host_absent}


async def create_application(
    session: AsyncSession, principal: Principal, cohort_id: uuid.UUID, data: ApplicationCreate
) -> Application:
    cohort = await get_cohort_as_admin(session, principal, cohort_id)
    application = Application(
        cohort_id=cohort.id,
        applicant_name=data.applicant_name,
        contact_email=data.contact_email,
        status=data.status.value,
    )
    await ApplicationRepository(session).add(application)
    record_history(
        session,
        application,
        HistoryKind.STATUS,
        Cause(HistoryCause.ADMIN, principal.subject),
        from_status=None,
        to_status=application.status,
    )
    return application


async def list_applications(
    session: AsyncSession,
    principal: Principal,
    cohort_id: uuid.UUID,
    filters: ApplicationFilters,
    cursor: str | None,
    limit: int,
) -> tuple[list[Application], str | None]:
    cohort = await get_cohort(session, principal, cohort_id)
    return await ApplicationRepository(session).list(
        cohort.id, statuses=filters.statuses(), text=filters.text, cursor=cursor, limit=limit
    )


async def get_application(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    *,
    as_admin: bool = False,
    for_update: bool = False,
) -> Application:
    application = await ApplicationRepository(session).get(application_id, for_update=for_update)
    if application is None:
        raise NotFound("application not found")
    # The cohort check also applies the tenancy rule.
    check = get_cohort_as_admin if as_admin else get_cohort
    await check(session, principal, application.cohort_id, "application")
    return application


async def move_status(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    requested: Status,
    reason: str | None,
) -> Application:
    application = await get_application(
        session, principal, application_id, as_admin=True, for_update=True
    )
    current = Status(application.status)
    application.status = pipeline.manual_move(current, requested).value
    record_history(
        session,
        application,
        HistoryKind.STATUS,
        Cause(HistoryCause.ADMIN, principal.subject, reason=reason),
        from_status=current.value,
        to_status=application.status,
    )
    await ApplicationRepository(session).flush()
    return application


async def list_history(
    session: AsyncSession,
    principal: Principal,
    application_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> tuple[list[HistoryEntry], str | None]:
    application = await get_application(session, principal, application_id)
    return await HistoryRepository(session).list(application.id, cursor, limit)


_INTERVIEW_KIND = {
    BookingEvent.CREATED: HistoryKind.INTERVIEW_SCHEDULED,
    BookingEvent.RESCHEDULED: HistoryKind.INTERVIEW_RESCHEDULED,
    BookingEvent.CANCELLED: HistoryKind.INTERVIEW_CANCELLED,
}


@dataclass(frozen=True)
class BookingChange:
    """What a booking event does to an application, as the state machine decides it."""

    status: str
    interview: InterviewChange
    slot: InterviewSlot
    kind: HistoryKind
    from_status: str | None
    to_status: str | None
    other: InterviewSlot | None = None
    """The other live booking: the one a double booking adds to, or the one an application
    falls back on when its interview is cancelled."""

    def application_values(self) -> dict[str, Any]:
        """The columns of the application to write."""
        values: dict[str, Any] = {"status": self.status}
        saved = {
            InterviewChange.SAVE: self.slot,
            InterviewChange.FALL_BACK: self.other,
        }.get(self.interview)
        if saved is not None:
            values.update(
                interview_booking_uid=saved.booking_uid,
                interview_start_time=saved.start_time,
                interview_end_time=saved.end_time,
                interview_meeting_url=saved.meeting_url,
                interview_no_show=None,
            )
        elif self.interview is InterviewChange.CLEAR:
            values.update(
                interview_booking_uid=None,
                interview_start_time=None,
                interview_end_time=None,
                interview_meeting_url=None,
                interview_no_show=None,
            )
        return values


def plan_booking(
    status: str,
    interview_booking_uid: str | None,
    event: BookingEvent,
    slot: InterviewSlot,
    *,
    replaces_uid: str | None = None,
    replaces_live: bool = False,
    other_live: InterviewSlot | None = None,
    kind: HistoryKind | None = None,
) -> BookingChange | None:
    """The change a booking event makes to an application in `status` whose current
    interview is `interview_booking_uid`; None when it changes nothing.

    `slot` is the booking created, the new booking of a reschedule (`replaces_uid` names the
    one it replaces) or the booking cancelled. `replaces_live` says whether the booking
    rescheduled or cancelled was a live booking of the application; `other_live` is the
    application's most recently created live booking besides it (and besides `slot`).
    """
    concerned_uid = slot.booking_uid if event is BookingEvent.CANCELLED else replaces_uid
    if concerned_uid is not None and interview_booking_uid == concerned_uid:
        concerns = Concerns.CURRENT
    elif replaces_live:
        concerns = Concerns.OTHER_LIVE
    else:
        concerns = Concerns.NOTHING_LIVE
    before = Status(status)
    another_live = other_live is not None
    transition = pipeline.apply_booking(before, event, concerns, another_live=another_live)
    if transition.interview is InterviewChange.KEEP and transition.status is before:
        return None
    status_changed = transition.status is not before
    scheduled_anew = (
        transition.interview is InterviewChange.SAVE and concerns is not Concerns.CURRENT
    )
    if kind is None:
        if event is BookingEvent.CANCELLED:
            kind = HistoryKind.INTERVIEW_CANCELLED
        elif scheduled_anew and other_live is not None:
            kind = HistoryKind.DOUBLE_BOOKING
        elif scheduled_anew:
            kind = HistoryKind.INTERVIEW_SCHEDULED
        else:
            kind = HistoryKind.INTERVIEW_RESCHEDULED
    keeps_other = transition.interview is InterviewChange.FALL_BACK or (
        kind is HistoryKind.DOUBLE_BOOKING
    )
    return BookingChange(
        status=transition.status.value,
        interview=transition.interview,
        slot=slot,
        kind=kind,
        from_status=before.value if status_changed else None,
        to_status=transition.status.value if status_changed else None,
        other=other_live if keeps_other else None,
    )


async def apply_booking(
    session: AsyncSession,
    application: Application,
    event: BookingEvent,
    slot: InterviewSlot,
    cause: Cause,
    *,
    replaces_uid: str | None = None,
    kind: HistoryKind | None = None,
) -> bool:
    """Apply a booking event to a locked application, as the state machine decides.

    `slot` is the booking created, the new booking of a reschedule (`replaces_uid` names the
    one it replaces) or the booking cancelled. Answers whether anything changed; a change is
    written to the history. (The webhook path writes the same change with
    `ApplicationRepository.booking_change_statements`, batched with its other writes.)
    """
    change = plan_booking(
        application.status,
        application.interview_booking_uid,
        event,
        slot,
        replaces_uid=replaces_uid,
        kind=kind,
    )
    if change is None:
        return False
    for column, value in change.application_values().items():
        setattr(application, column, value)
    record_history(
        session,
        application,
        change.kind,
        cause,
        from_status=change.from_status,
        to_status=change.to_status,
        interview=slot,
    )
    await ApplicationRepository(session).flush()
    return True


def history_values(
    application_id: uuid.UUID | None,
    kind: HistoryKind,
    cause: Cause,
    *,
    from_status: str | None,
    to_status: str | None,
    interview: InterviewSlot | None = None,
    other_interview: InterviewSlot | None = None,
) -> dict[str, Any]:
    """The columns of a history entry."""
    return {
        "application_id": application_id,
        "orphaned_interview_id": cause.orphaned_interview_id,
        "kind": kind.value,
        "from_status": from_status,
        "to_status": to_status,
        "interview": interview.as_json() if interview else None,
        "other_interview": other_interview.as_json() if other_interview else None,
        "cause": cause.kind.value,
        "event_id": cause.event_id,
        "actor": cause.actor,
        "reason": cause.reason,
    }


def record_history(
    session: AsyncSession,
    application: Application | None,
    kind: HistoryKind,
    cause: Cause,
    *,
    from_status: str | None,
    to_status: str | None,
    interview: InterviewSlot | None = None,
) -> None:
    HistoryRepository(session).add(
        HistoryEntry(
            **history_values(
                application.id if application else None,
                kind,
                cause,
                from_status=from_status,
                to_status=to_status,
                interview=interview,
            )
        )
    )
