import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver, metrics
from scheduling_service.admission import Gate
from scheduling_service.applications.repository import ApplicationRepository, HistoryRepository
from scheduling_service.applications.service import apply_booking, record_history
from scheduling_service.auth import Principal
from scheduling_service.bookings.effects import Cause, InterviewSlot
from scheduling_service.bookings.repository import BookingRepository, BookingRow
from scheduling_service.config import Settings
from scheduling_service.errors import Conflict, NotFound
from scheduling_service.models import (
    Application,
    HistoryCause,
    HistoryEntry,
    HistoryKind,
    OrphanedInterview,
    OrphanState,
)
from scheduling_service.notifications.service import enqueue_orphan_alerts
from scheduling_service.orphans.ranking import MAX_CANDIDATES, Ranked, Signals, rank
from scheduling_service.orphans.repository import CandidateRepository, OrphanRepository
from scheduling_service.pipeline import BookingEvent
from scheduling_service.tenancy import get_cohort, get_cohort_as_admin

# The best few candidates each orphan of a list carries (those with the booker's email or
# name); its detail has up to MAX_CANDIDATES, found by similarity too.
LISTED_CANDIDATES = 3
# Rows the ranking may reorder, per candidate it keeps: the database orders by the strongest
# raw signal, the ranking by the weighted one.
_POOL_PER_CANDIDATE = 5

Candidates = list[tuple[Ranked, Application]]


async def list_orphans(
    session: AsyncSession,
    principal: Principal,
    cohort_id: uuid.UUID,
    state: OrphanState,
    cursor: str | None,
    limit: int,
) -> tuple[list[tuple[OrphanedInterview, Candidates]], str | None]:
    """A page of the cohort's orphans, each open one with its best few candidates (one
    statement ranks them for the whole page)."""
    cohort = await get_cohort(session, principal, cohort_id)
    orphans, next_cursor = await OrphanRepository(session).list(cohort.id, state, cursor, limit)
    open_ = [o for o in orphans if o.state == OrphanState.OPEN]
    repository = CandidateRepository(session)
    signals = await repository.same(open_, LISTED_CANDIDATES * _POOL_PER_CANDIDATE)
    candidates = await _ranked(repository, signals, LISTED_CANDIDATES)
    return [(o, candidates.get(o.id, [])) for o in orphans], next_cursor


async def count_open(session: AsyncSession, principal: Principal, cohort_id: uuid.UUID) -> int:
    cohort = await get_cohort(session, principal, cohort_id)
    return await OrphanRepository(session).count_open(cohort.id)


async def open_orphan(
    executor: driver.Executor,
    cohort_id: uuid.UUID,
    booking: BookingRow,
    *,
    applicant_name: str | None,
    time_zone: str | None,
    webhook_event_id: uuid.UUID,
    settings: Settings,
) -> uuid.UUID:
    """Keep a booking that matched nobody as an open orphaned interview, and alert the
    organization's admins; answers the orphan's ID."""
    assert booking.start_time is not None and booking.end_time is not None
    repository = OrphanRepository(executor)
    orphan_id = await repository.open(
        cohort_id=cohort_id,
        booking_id=booking.id,
        webhook_event_id=webhook_event_id,
        applicant_name=applicant_name,
        applicant_email=booking.applicant_email,
        time_zone=time_zone,
        booking_uid=booking.uid,
        start_time=booking.start_time,
        end_time=booking.end_time,
        meeting_url=booking.meeting_url,
    )
    await enqueue_orphan_alerts(executor, cohort_id, orphan_id, settings)
    metrics.after_commit(executor, metrics.ORPHANS_OPENED.inc)
    return orphan_id


async def lock_orphan(executor: driver.Executor, orphan_id: uuid.UUID) -> None:
    await OrphanRepository(executor).lock(orphan_id)


async def follow_reschedule(
    executor: driver.Executor, orphan_id: uuid.UUID, booking: BookingRow
) -> uuid.UUID:
    """The orphan's booking moved: it now describes the new booking.

    A cancelled orphan is reopened, since the applicant booked again (Cal.com's
    host-requested reschedule cancels first); a dismissed one stays dismissed.
    """
    assert booking.start_time is not None and booking.end_time is not None
    reopened = await OrphanRepository(executor).follow(
        orphan_id,
        booking_id=booking.id,
        booking_uid=booking.uid,
        start_time=booking.start_time,
        end_time=booking.end_time,
        meeting_url=booking.meeting_url,
    )
    if reopened:
        metrics.after_commit(executor, metrics.ORPHANS_OPENED.inc)
    return orphan_id


async def cancel_orphan(executor: driver.Executor, orphan_id: uuid.UUID) -> bool:
    """The orphan's booking was cancelled; answers whether the orphan changed (it was open)."""
    cancelled = await OrphanRepository(executor).cancel(orphan_id)
    if cancelled:
        _count_resolved(executor, OrphanState.CANCELLED)
    return cancelled


async def get_orphan(
    session: AsyncSession, principal: Principal, orphan_id: uuid.UUID, rankings: Gate
) -> tuple[OrphanedInterview, Candidates, list[HistoryEntry]]:
    """The orphan, its ranked candidates with their applications, and its history, once
    `rankings` lets the similarity search in (else `Unavailable`): let in before the first
    statement, so that a request waiting its turn holds no connection."""
    async with rankings.enter():
        orphan = await OrphanRepository(session).get(orphan_id)
        if orphan is None:
            raise NotFound("orphaned interview not found")
        await get_cohort(session, principal, orphan.cohort_id, "orphaned interview")
        repository = CandidateRepository(session)
        signals = await repository.similar([orphan], MAX_CANDIDATES * _POOL_PER_CANDIDATE)
        candidates = await _ranked(repository, signals, MAX_CANDIDATES)
        history = await HistoryRepository(session).list_for_orphan(orphan.id)
    return orphan, candidates[orphan.id], history


async def _ranked(
    repository: CandidateRepository, signals: dict[uuid.UUID, list[Signals]], keep: int
) -> dict[uuid.UUID, Candidates]:
    """Each orphan's best `keep` candidates with their applications, in one statement
    however many orphans there are."""
    ranked = {orphan_id: rank(found)[:keep] for orphan_id, found in signals.items()}
    applications = await repository.applications(
        {r.application_id for best in ranked.values() for r in best}
    )
    return {
        # An application deleted since it was ranked is left out.
        orphan_id: [
            (r, applications[r.application_id]) for r in best if r.application_id in applications
        ]
        for orphan_id, best in ranked.items()
    }


async def _lock_open_orphan(
    session: AsyncSession, principal: Principal, orphan_id: uuid.UUID
) -> OrphanedInterview:
    orphan = await OrphanRepository(session).get(orphan_id, for_update=True)
    if orphan is None:
        raise NotFound("orphaned interview not found")
    await get_cohort_as_admin(session, principal, orphan.cohort_id, "orphaned interview")
    if orphan.state != OrphanState.OPEN:
        raise Conflict(f"the orphaned interview is {orphan.state}, no longer open")
    return orphan


async def match_orphan(
    session: AsyncSession, principal: Principal, orphan_id: uuid.UUID, application_id: uuid.UUID
) -> tuple[OrphanedInterview, Application]:
    """Attach an open orphan's booking to an application of its cohort, as a matched booking
    created would have been; later events of that booking, and later bookings from the
    orphan's email, then go to the application."""
    # Lock order, as in the webhook: orphan, then application, then bookings.
    orphan = await _lock_open_orphan(session, principal, orphan_id)
    applications = ApplicationRepository(session)
    application = await applications.get(application_id, for_update=True)
    if application is None:
        raise NotFound("application not found")
    await get_cohort(session, principal, application.cohort_id, "application")
    if application.cohort_id != orphan.cohort_id:
        raise Conflict("the application belongs to another cohort than the orphaned interview")
    await BookingRepository(session).attach_orphan_bookings(orphan.id, application.id)
    cause = Cause(HistoryCause.MANUAL_MATCH, principal.subject, orphaned_interview_id=orphan.id)
    slot = InterviewSlot(orphan.booking_uid, orphan.start_time, orphan.end_time, orphan.meeting_url)
    await apply_booking(
        session, application, BookingEvent.CREATED, slot, cause, kind=HistoryKind.MATCH
    )
    _resolve(session, orphan, OrphanState.MATCHED, principal)
    orphan.application_id = application.id
    if orphan.applicant_email != application.contact_email.strip().lower():
        await applications.remember_alias(orphan.cohort_id, orphan.applicant_email, application.id)
    await OrphanRepository(session).flush()
    return orphan, application


async def dismiss_orphan(
    session: AsyncSession, principal: Principal, orphan_id: uuid.UUID, reason: str | None
) -> OrphanedInterview:
    """Close an orphan that belongs to no applicant."""
    orphan = await _lock_open_orphan(session, principal, orphan_id)
    _resolve(session, orphan, OrphanState.DISMISSED, principal)
    orphan.resolution_reason = reason
    record_history(
        session,
        None,
        HistoryKind.DISMISSAL,
        Cause(
            HistoryCause.DISMISSAL,
            principal.subject,
            reason=reason,
            orphaned_interview_id=orphan.id,
        ),
        from_status=None,
        to_status=None,
    )
    await OrphanRepository(session).flush()
    return orphan


def _resolve(
    session: AsyncSession, orphan: OrphanedInterview, state: OrphanState, principal: Principal
) -> None:
    orphan.state = state
    orphan.resolved_at = datetime.now(UTC)
    orphan.resolved_by = principal.subject
    _count_resolved(session, state)


def _count_resolved(executor: driver.Executor, state: OrphanState) -> None:
    metrics.after_commit(executor, metrics.ORPHANS_RESOLVED.labels(state.value).inc)
