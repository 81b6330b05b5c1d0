import uuid

from fastapi import APIRouter

from scheduling_service import problems
from scheduling_service.auth import PrincipalDep
from scheduling_service.db import SessionDep
from scheduling_service.models import OrphanState
from scheduling_service.orphans import service
from scheduling_service.orphans.schemas import OpenCount, OrphanedInterviewOut
from scheduling_service.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from scheduling_service.schemas import Page

router = APIRouter(prefix="/v1", tags=["orphaned interviews"])

_AUTH = (problems.UNAUTHORIZED, problems.FORBIDDEN, problems.NOT_FOUND, problems.VALIDATION)


@router.get(
    "/cohorts/{cohort_id}/orphaned-interviews",
    operation_id="listOrphanedInterviews",
    summary="List a cohort's orphaned interviews, newest first",
    responses=problems.responses(*_AUTH),
)
async def list_orphans(
    cohort_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    state: OrphanState = OrphanState.OPEN,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Page[OrphanedInterviewOut]:
    orphans, next_cursor = await service.list_orphans(
        session, principal, cohort_id, state, cursor, limit
    )
    return Page(
        items=[OrphanedInterviewOut.model_validate(o) for o in orphans], next_cursor=next_cursor
    )


@router.get(
    "/cohorts/{cohort_id}/orphaned-interviews/count",
    operation_id="countOpenOrphanedInterviews",
    summary="The number of open orphaned interviews, for the badge",
    responses=problems.responses(*_AUTH),
)
async def count_open(
    cohort_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> OpenCount:
    return OpenCount(open=await service.count_open(session, principal, cohort_id))
