import uuid

from fastapi import APIRouter, Request, Response, status

from scheduling_service import problems
from scheduling_service.auth import PrincipalDep
from scheduling_service.db import SessionDep
from scheduling_service.reconciliation import service
from scheduling_service.reconciliation.schemas import (
    CalcomConnectionIn,
    CalcomConnectionOut,
    ReconcileIn,
    ReconcileOut,
)

router = APIRouter(prefix="/v1", tags=["reconciliation"])

_AUTH = problems.AUTHENTICATED


@router.put(
    "/cohorts/{cohort_id}/calcom-connection",
    operation_id="setCalcomConnection",
    summary="Connect a cohort to Cal.com's bookings API, for reconciliation (org admin)",
    responses=problems.responses(*_AUTH),
)
async def set_calcom_connection(
    cohort_id: uuid.UUID,
    data: CalcomConnectionIn,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> CalcomConnectionOut:
    wanted = service.ConnectionSettings(
        data.api_key.get_secret_value(), data.base_url, list(dict.fromkeys(data.event_type_ids))
    )
    connection = await service.set_connection(
        session, principal, request.app.state.settings, cohort_id, wanted
    )
    return CalcomConnectionOut.model_validate(connection)


@router.delete(
    "/cohorts/{cohort_id}/calcom-connection",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteCalcomConnection",
    summary="Remove a cohort's Cal.com API connection and its stored key (org admin)",
    responses=problems.responses(*_AUTH),
)
async def delete_calcom_connection(
    cohort_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    await service.delete_connection(session, principal, cohort_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/cohorts/{cohort_id}/reconcile",
    operation_id="reconcileCohort",
    summary="Apply what Cal.com's bookings API knows and the service missed (org admin)",
    description="Lists the bookings Cal.com changed since `since` (default: the watermark "
    "minus the overlap) and applies each change the service has not seen, as its webhook "
    "would have been applied. With `dry_run`, reports the same changes and changes nothing.",
    responses=problems.responses(*_AUTH, problems.CONFLICT, problems.UPSTREAM_FAILED),
)
async def reconcile(
    cohort_id: uuid.UUID, data: ReconcileIn, request: Request, principal: PrincipalDep
) -> ReconcileOut:
    result = await service.reconcile_on_demand(
        request.app.state.sessionmaker,
        principal,
        request.app.state.settings,
        cohort_id,
        data.since,
        data.dry_run,
    )
    return ReconcileOut.of(result)
