import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.auth import Principal
from scheduling_service.models import Booking, OrphanedInterview, OrphanState
from scheduling_service.organizations.service import get_cohort
from scheduling_service.orphans.repository import OrphanRepository


async def list_orphans(
    session: AsyncSession,
    principal: Principal,
    cohort_id: uuid.UUID,
    state: OrphanState,
    cursor: str | None,
    limit: int,
) -> tuple[list[OrphanedInterview], str | None]:
    cohort = await get_cohort(session, principal, cohort_id)
    return await OrphanRepository(session).list(cohort.id, state, cursor, limit)


async def count_open(session: AsyncSession, principal: Principal, cohort_id: uuid.UUID) -> int:
    cohort = await get_cohort(session, principal, cohort_id)
    return await OrphanRepository(session).count_open(cohort.id)


async def open_orphan(
    session: AsyncSession,
    cohort_id: uuid.UUID,
    booking: Booking,
    webhook_event_id: uuid.UUID,
) -> OrphanedInterview:
    """Keep a booking that matched nobody as an open orphaned interview."""
    assert booking.start_time is not None and booking.end_time is not None
    orphan = OrphanedInterview(
        cohort_id=cohort_id,
        state=OrphanState.OPEN.value,
        applicant_name=booking.applicant_name,
        applicant_email=booking.applicant_email,
        time_zone=booking.time_zone,
        booking_uid=booking.uid,
        start_time=booking.start_time,
        end_time=booking.end_time,
        meeting_url=booking.meeting_url,
        webhook_event_id=webhook_event_id,
    )
    await OrphanRepository(session).add(orphan)
    booking.orphaned_interview_id = orphan.id
    return orphan


async def follow_reschedule(
    session: AsyncSession, orphan_id: uuid.UUID, booking: Booking
) -> OrphanedInterview:
    """The orphan's booking moved: it now describes the new booking.

    A cancelled orphan is reopened, since the applicant booked again (Cal.com's
    host-requested reschedule cancels first); a dismissed one stays dismissed.
    """
    assert booking.start_time is not None and booking.end_time is not None
    repository = OrphanRepository(session)
    orphan = await repository.get(orphan_id, for_update=True)
    assert orphan is not None, "a booking's orphan is never deleted"
    orphan.booking_uid = booking.uid
    orphan.start_time = booking.start_time
    orphan.end_time = booking.end_time
    orphan.meeting_url = booking.meeting_url
    if orphan.state == OrphanState.CANCELLED.value:
        orphan.state = OrphanState.OPEN.value
        orphan.resolved_at = None
    booking.orphaned_interview_id = orphan.id
    await repository.flush()
    return orphan


async def cancel_orphan(session: AsyncSession, orphan_id: uuid.UUID) -> bool:
    """The orphan's booking was cancelled; answers whether the orphan changed."""
    repository = OrphanRepository(session)
    orphan = await repository.get(orphan_id, for_update=True)
    if orphan is None or orphan.state != OrphanState.OPEN.value:
        return False
    orphan.state = OrphanState.CANCELLED.value
    orphan.resolved_at = datetime.now(UTC)
    await repository.flush()
    return True
