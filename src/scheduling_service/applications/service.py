import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import pipeline
from scheduling_service.applications.repository import ApplicationRepository, HistoryRepository
from scheduling_service.applications.schemas import ApplicationCreate
from scheduling_service.auth import Principal
from scheduling_service.bookings.effects import Cause, InterviewSlot, history_values, plan_booking
from scheduling_service.errors import NotFound
from scheduling_service.models import Application, HistoryCause, HistoryEntry, HistoryKind
from scheduling_service.pipeline import BookingEvent, Status
from scheduling_service.tenancy import get_cohort, get_cohort_as_admin
from scheduling_service.writes import PendingWrites


@dataclass(frozen=True)
class ApplicationFilters:
    status: list[Status] | None = None
    stage: pipeline.Stage | None = None
    pipeline_state: pipeline.PipelineState | None = None
    text: str | None = None

    def statuses(self) -> set[Status] | None:
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
        return allowed


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


async def create_application(
    session: AsyncSession, principal: Principal, cohort_id: uuid.UUID, data: ApplicationCreate
) -> Application:
    cohort = await get_cohort_as_admin(session, principal, cohort_id)
    application = Application(
        cohort_id=cohort.id,
        applicant_name=data.applicant_name,
        contact_email=data.contact_email,
        status=Status(data.status),
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
    current = application.status
    application.status = pipeline.manual_move(current, requested)
    record_history(
        session,
        application,
        HistoryKind.STATUS,
        Cause(HistoryCause.ADMIN, principal.subject, reason=reason),
        from_status=current,
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
    """Apply a booking event to a locked application, as the state machine decides, with the
    statements the webhook path batches (`ApplicationRepository.change_writes`); the
    application is re-read after. Answers whether anything changed.

    `slot` is the booking created, the new booking of a reschedule (`replaces_uid` names the
    one it replaces) or the booking cancelled.
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
    writes = PendingWrites(session)
    for write in ApplicationRepository.change_writes(application.id, change, cause):
        writes.add(write)
    await writes.flush()
    await ApplicationRepository(session).refresh(application)
    return True


def record_history(
    session: AsyncSession,
    application: Application | None,
    kind: HistoryKind,
    cause: Cause,
    *,
    from_status: Status | None,
    to_status: Status | None,
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
