import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request

from scheduling_service import problems
from scheduling_service.applications.views import application_out
from scheduling_service.auth import PrincipalDep
from scheduling_service.db import SessionDep
from scheduling_service.models import OrphanState
from scheduling_service.orphans import service
from scheduling_service.orphans.schemas import (
    Candidate,
    DismissRequest,
    ListedOrphanedInterview,
    MatchRequest,
    MatchResult,
    OpenCount,
    OrphanedInterviewDetail,
    OrphanedInterviewOut,
    OrphanedInterviewPage,
    OrphanHistoryEntry,
)
from scheduling_service.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery

router = APIRouter(prefix="/v1", tags=["orphaned-interviews"])

_NOT_OPEN = "the orphaned interview is matched, no longer open"


@router.get(
    "/cohorts/{cohort_id}/orphaned-interviews",
    operation_id="listOrphanedInterviews",
    summary="List a cohort's orphaned interviews, newest first",
    description="For anyone of the cohort's organization (and system admins); changes "
    "nothing. Bookings that matched no application, in one `state` (`open` when left out). "
    "A page at a time (`cursor` is the previous page's `next_cursor`, with the same `state`). "
    "404 when the cohort does not exist or is another organization's; 422 for an unknown "
    "state, a bad `limit` or cursor.",
    responses=problems.member_problems("cohort"),
)
async def list_orphans(
    cohort_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    state: OrphanState = OrphanState.OPEN,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> OrphanedInterviewPage:
    orphans, next_cursor = await service.list_orphans(
        session, principal, cohort_id, state, cursor, limit
    )
    now = datetime.now(UTC)
    return OrphanedInterviewPage(
        items=[
            ListedOrphanedInterview(
                **OrphanedInterviewOut.model_validate(orphan).model_dump(),
                candidates=_candidates_out(candidates, now),
            )
            for orphan, candidates in orphans
        ],
        next_cursor=next_cursor,
    )


def _candidates_out(candidates: service.Candidates, now: datetime) -> list[Candidate]:
    return [
        Candidate(
            application=application_out(application, now),
            score=ranked.score,
            reasons=list(ranked.reasons),
        )
        for ranked, application in candidates
    ]


@router.get(
    "/cohorts/{cohort_id}/orphaned-interviews/count",
    operation_id="countOpenOrphanedInterviews",
    summary="The number of open orphaned interviews, for the badge",
    description="For anyone of the cohort's organization (and system admins); changes "
    "nothing. 404 when the cohort does not exist or is another organization's.",
    responses=problems.member_problems("cohort"),
)
async def count_open(
    cohort_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> OpenCount:
    return OpenCount(open=await service.count_open(session, principal, cohort_id))


@router.get(
    "/orphaned-interviews/{orphan_id}",
    operation_id="getOrphanedInterview",
    summary="One orphaned interview, with the applications most like its booker",
    description="For anyone of its organization (and system admins); changes nothing. "
    "`candidates` are the cohort's applications most like the booker's name and email, best "
    "first, to match it to; `history` is what happened to it. 404 when it does not exist or "
    "is another organization's; 503 `service-unavailable` with `Retry-After` when the worker "
    "already runs `CANDIDATE_RANKINGS_MAX_CONCURRENT` rankings and none ends within "
    "`API_QUEUE_TIMEOUT_SECONDS`.",
    responses=problems.member_problems("orphaned interview"),
)
async def get_orphan(
    orphan_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, request: Request
) -> OrphanedInterviewDetail:
    orphan, candidates, history = await service.get_orphan(
        session, principal, orphan_id, request.app.state.candidate_rankings
    )
    now = datetime.now(UTC)
    return OrphanedInterviewDetail(
        **OrphanedInterviewOut.model_validate(orphan).model_dump(),
        time_zone=orphan.time_zone,
        candidates=_candidates_out(candidates, now),
        history=[OrphanHistoryEntry.model_validate(entry) for entry in history],
    )


@router.post(
    "/orphaned-interviews/{orphan_id}/match",
    operation_id="matchOrphanedInterview",
    summary="Attach an open orphaned interview to an application of its cohort (org admin)",
    description="For the organization's admins (and system admins). The booking becomes the "
    "application's interview, as if it had matched on arrival: the application moves as the "
    "booking would have moved it, the orphan becomes `matched`, and later changes to the "
    "booking, and later bookings from the booker's email, go to the application. 403 for a "
    "member; 404 when the orphaned interview or the application does not exist or is "
    "another organization's; 409 `conflict` when the orphaned interview is no longer open "
    "(matched, dismissed or cancelled) or the application is of another cohort.",
    responses=problems.admin_problems(
        "orphaned interview", problems.CONFLICT, details={problems.CONFLICT: _NOT_OPEN}
    ),
)
async def match_orphan(
    orphan_id: uuid.UUID, data: MatchRequest, session: SessionDep, principal: PrincipalDep
) -> MatchResult:
    orphan, application = await service.match_orphan(
        session, principal, orphan_id, data.application_id
    )
    return MatchResult(
        orphaned_interview=OrphanedInterviewOut.model_validate(orphan),
        application=application_out(application),
    )


@router.post(
    "/orphaned-interviews/{orphan_id}/dismiss",
    operation_id="dismissOrphanedInterview",
    summary="Close an open orphaned interview that belongs to no applicant (org admin)",
    description="For the organization's admins (and system admins). The orphan becomes "
    "`dismissed`, with the optional `reason`, and leaves the open count; it still follows "
    "its booking's time. 403 for a member; 404 when it does not exist or is another "
    "organization's; 409 `conflict` when it is no longer open (matched, dismissed or "
    "cancelled); 422 for a reason over 2000 characters.",
    responses=problems.admin_problems(
        "orphaned interview", problems.CONFLICT, details={problems.CONFLICT: _NOT_OPEN}
    ),
)
async def dismiss_orphan(
    orphan_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, data: DismissRequest
) -> OrphanedInterviewOut:
    orphan = await service.dismiss_orphan(session, principal, orphan_id, data.reason)
    return OrphanedInterviewOut.model_validate(orphan)
