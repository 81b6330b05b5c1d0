import asyncio
import uuid

from fastapi import APIRouter, Request, Response, status

from scheduling_service import problems
from scheduling_service.auth import PrincipalDep
from scheduling_service.db import SessionDep
from scheduling_service.organizations.schemas import CalcomConnectionOut
from scheduling_service.reconciliation import service
from scheduling_service.reconciliation.schemas import (
    CalcomConnectionIn,
    ReconcileIn,
    ReconcileOut,
)

# A cohort's Cal.com connection is part of the cohort, as its webhook secret is.
router = APIRouter(prefix="/v1", tags=["cohorts"])

_RUNNING = "a reconciliation of this cohort is running; try again when it ends"


@router.put(
    "/cohorts/{cohort_id}/calcom-connection",
    operation_id="setCalcomConnection",
    summary="Connect a cohort to Cal.com's bookings API, for reconciliation (org admin)",
    description="For the organization's admins (and system admins). Sets, or replaces, the "
    "API key (stored encrypted, never returned), the API's address and the event types the "
    "cohort's periodic and on-demand reconciliations ask Cal.com about; a new key clears the "
    "last error, so a later refusal alerts again. Answers the connection without the key. "
    "403 for a member; 404 when the cohort does not exist or is another organization's; 422 "
    "for a key with spaces or non-ASCII characters, or a base URL that is not http(s).",
    responses=problems.admin_problems("cohort"),
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
    description="For the organization's admins (and system admins). Deletes the connection "
    "and its encrypted key: the cohort is no longer reconciled, and lives on its webhooks "
    "alone. 403 for a member; 404 when the cohort does not exist or is another "
    "organization's, or has no Cal.com connection.",
    responses=problems.admin_problems("cohort"),
)
async def delete_calcom_connection(
    cohort_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    await service.delete_connection(session, principal, cohort_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/cohorts/{cohort_id}/reconcile",
    operation_id="reconcileCohort",
    response_model=ReconcileOut,
    summary="Apply what Cal.com's bookings API knows and the service missed (org admin)",
    description="For the organization's admins (and system admins). Lists the bookings "
    "Cal.com changed since `since` (default: the watermark minus the overlap) and applies "
    "each change the service has not seen, as its webhook would have been applied "
    "(applications, orphaned interviews, alerts, and an event of source `reconciliation` "
    "each), then moves the watermark. With `dry_run`, reports the same changes and changes "
    "nothing. 403 for a member; 404 when the cohort does not exist or is another "
    "organization's, or has no Cal.com connection; 409 `conflict` while another run "
    "(another request, or the periodic reconciler on any replica) holds the cohort, or when "
    "the stored key cannot be decrypted with `SECRETS_ENCRYPTION_KEY` (set the connection "
    "again); 424 `calcom-api-failed` when Cal.com refuses the key or cannot be reached after "
    "the retries (the connection's `last_error` then says why).",
    responses=problems.admin_problems(
        "cohort",
        problems.CONFLICT,
        problems.UPSTREAM_FAILED,
        details={problems.CONFLICT: _RUNNING},
    ),
)
async def reconcile(
    cohort_id: uuid.UUID, data: ReconcileIn, request: Request, principal: PrincipalDep
) -> Response:
    result = await service.reconcile_on_demand(
        request.app.state.sessionmaker,
        principal,
        request.app.state.settings,
        cohort_id,
        data.since,
        data.dry_run,
    )
    # Thousands of changes take seconds to shape and encode: in a thread, so this worker's
    # event loop keeps answering webhooks meanwhile (it stalled them all at the end of a run).
    body = await asyncio.to_thread(lambda: ReconcileOut.of(result).model_dump_json())
    return Response(body, media_type="application/json")
