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


def _manual_moves() -> str:
    """The manual-move table of the state machine, as Markdown, for the operation's docs."""
    rows = [
        f"| `{current}` | {', '.join(f'`{s}`' for s in sorted(allowed)) or 'nothing'} |"
        for current, allowed in pipeline.MANUAL_MOVES.items()
    ]
    return "\n".join(["| from | to |", "|---|---|", *rows])


@router.post(
    "/cohorts/{cohort_id}/applications",
    status_code=status.HTTP_201_CREATED,
    operation_id="createApplication",
    summary="Add an applicant to a cohort (org admin)",
    description="For the organization's admins (and system admins). Creates an application "
    "in `status` (`submitted` when left out; never a `*_scheduled` status, which only a "
    "booking reaches) and its first history entry. Bookings are matched to it by "
    "`contact_email`, compared without case. 403 for a member; 404 when the cohort does not "
    "exist or is another organization's; 409 `conflict` when the cohort already has an "
    "application with this email; 422 for a blank name, an invalid email or a status it "
    "cannot be created in.",
    responses=problems.admin_problems(
        "cohort",
        problems.CONFLICT,
        details={problems.CONFLICT: "an application with this contact email exists in the cohort"},
    ),
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
    description="For anyone of the cohort's organization (and system admins); changes "
    "nothing. Filters combine: `status` (repeat it for several), `stage`, `pipeline_state` "
    "and `q` (a part of the name or email, any case). A page at a time: pass the answer's "
    "`next_cursor` as `cursor` with the same filters. 404 when the cohort does not exist or "
    "is another organization's; 422 for an unknown filter value, a bad `limit` or a cursor "
    "this service did not give out.",
    responses=problems.member_problems("cohort"),
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
    description="For anyone of its organization (and system admins); changes nothing. "
    "`interview` is the current booking, if any; `pipeline` says where it stands. 404 when "
    "it does not exist or is another organization's.",
    responses=problems.member_problems("application"),
)
async def get_application(
    application_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> ApplicationOut:
    return application_out(await service.get_application(session, principal, application_id))


@router.post(
    "/applications/{application_id}/status",
    operation_id="moveApplicationStatus",
    summary="Move an application by hand, as the state machine allows (org admin)",
    description="For the organization's admins (and system admins). Moves the application "
    "to `status` and records it in the history with `reason`. Only these moves are allowed by "
    "hand; any other answers 409 `transition-refused` and changes nothing (the `*_scheduled` "
    "statuses are reached only by bookings, so an application never claims an interview it "
    "does not have):\n\n"
    + _manual_moves()
    + "\n\n403 for a member; 404 when the application does not exist or is another "
    "organization's; 422 for an unknown status or a reason over 2000 characters.",
    responses=problems.admin_problems("application", problems.TRANSITION_REFUSED),
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
    description="For anyone of its organization (and system admins); changes nothing. Every "
    "status move, booking change and orphan match, with who or what caused it. A page at a "
    "time (`cursor` is the previous page's `next_cursor`). 404 when the application does not "
    "exist or is another organization's; 422 for a bad `limit` or cursor.",
    responses=problems.member_problems("application"),
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
