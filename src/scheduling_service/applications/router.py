import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from scheduling_service import pipeline, problems
from scheduling_service.applications import service
from scheduling_service.applications.schemas import (
    ApplicationCreate,
    ApplicationOut,
    HistoryEntryOut,
    StatusMove,
)
from scheduling_service.applications.views import application_out
from scheduling_service.auth import PrincipalDep
from scheduling_service.db import SessionDep
from scheduling_service.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from scheduling_service.schemas import Page

router = APIRouter(prefix="/v1", tags=["applications"])

_AUTH = problems.AUTHENTICATED


@router.post(
    "/cohorts/{cohort_id}/applications",
    status_code=status.HTTP_201_CREATED,
    operation_id="createApplication",
    summary="Add an applicant to a cohort (org admin)",
    responses=problems.responses(*_AUTH, problems.CONFLICT),
)
async def create_application(
    cohort_id: uuid.UUID, data: ApplicationCreate, session: SessionDep, principal: PrincipalDep
) -> ApplicationOut:
    application = await service.create_application(session, principal, cohort_id, data)
    return application_out(application)


@router.get(
    "/cohorts/{cohort_id}/applications",
    operation_id="listApplications",
    summary="List a cohort's applications, newest first",
    responses=problems.responses(*_AUTH),
)
async def list_applications(
    cohort_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    status_: Annotated[
        list[pipeline.Status] | None, Query(alias="status", max_length=len(pipeline.Status))
    ] = None,
    stage: pipeline.Stage | None = None,
    pipeline_state: pipeline.PipelineState | None = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Name or email contains (any case).")
    ] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Page[ApplicationOut]:
    filters = service.ApplicationFilters(
        status=status_, stage=stage, pipeline_state=pipeline_state, text=q
    )
    applications, next_cursor = await service.list_applications(
        session, principal, cohort_id, filters, cursor, limit
    )
    now = datetime.now(UTC)
    return Page(items=[application_out(a, now) for a in applications], next_cursor=next_cursor)


@router.get(
    "/applications/{application_id}",
    operation_id="getApplication",
    summary="Read one application",
    responses=problems.responses(*_AUTH),
)
async def get_application(
    application_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> ApplicationOut:
    return application_out(await service.get_application(session, principal, application_id))


@router.post(
    "/applications/{application_id}/status",
    operation_id="moveApplicationStatus",
    summary="Move an application by hand, as the state machine allows (org admin)",
    responses=problems.responses(*_AUTH, problems.TRANSITION_REFUSED),
)
async def move_status(
    application_id: uuid.UUID, data: StatusMove, session: SessionDep, principal: PrincipalDep
) -> ApplicationOut:
    application = await service.move_status(
        session, principal, application_id, data.status, data.reason
    )
    return application_out(application)


@router.get(
    "/applications/{application_id}/history",
    operation_id="listApplicationHistory",
    summary="An application's history, oldest first",
    responses=problems.responses(*_AUTH),
)
async def list_history(
    application_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Page[HistoryEntryOut]:
    entries, next_cursor = await service.list_history(
        session, principal, application_id, cursor, limit
    )
    return Page(items=[HistoryEntryOut.model_validate(e) for e in entries], next_cursor=next_cursor)
