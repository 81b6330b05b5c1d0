import uuid
from datetime import timedelta

from fastapi import APIRouter, Request, status

from scheduling_service import problems, tenancy
from scheduling_service.auth import PrincipalDep
from scheduling_service.db import SessionDep
from scheduling_service.models import CalcomConnection, Cohort
from scheduling_service.organizations import service
from scheduling_service.organizations.schemas import (
    CalcomConnectionOut,
    CohortCreate,
    CohortCreated,
    CohortOut,
    OrganizationCreate,
    OrganizationOut,
    OrganizationUpdate,
    SecretRotated,
)
from scheduling_service.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from scheduling_service.schemas import Page

router = APIRouter(prefix="/v1")


def cohort_out(
    request: Request, cohort: Cohort, connection: CalcomConnection | None = None
) -> CohortOut:
    return CohortOut(
        id=cohort.id,
        organization_id=cohort.organization_id,
        name=cohort.name,
        webhook_url=webhook_url(request, cohort.id),
        calcom_connection=CalcomConnectionOut.of(connection),
        created_at=cohort.created_at,
        updated_at=cohort.updated_at,
    )


def webhook_url(request: Request, cohort_id: uuid.UUID) -> str:
    base: str = request.app.state.settings.public_base_url
    return f"{base.rstrip('/')}/webhooks/calcom/{cohort_id}"


@router.post(
    "/organizations",
    status_code=status.HTTP_201_CREATED,
    operation_id="createOrganization",
    summary="Create an organization (system admin)",
    description="For system admins. Creates an organization with its admins' emails (they "
    "receive the orphaned-interview alerts); its people then get tokens whose `org_id` is the "
    "new ID. 403 for anyone but a system admin; 422 for a blank name, an invalid email or "
    "more than 50 emails.",
    tags=["organizations"],
    responses=problems.system_admin_problems(None),
)
async def create_organization(
    data: OrganizationCreate, session: SessionDep, principal: PrincipalDep
) -> OrganizationOut:
    organization = await service.create_organization(session, principal, data)
    return OrganizationOut.model_validate(organization)


@router.get(
    "/organizations/{org_id}",
    operation_id="getOrganization",
    summary="Read an organization",
    description="For anyone of the organization (and system admins); changes nothing. 404 "
    "when it does not exist or is another organization.",
    tags=["organizations"],
    responses=problems.member_problems("organization"),
)
async def get_organization(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> OrganizationOut:
    organization = await service.get_organization(session, principal, org_id)
    return OrganizationOut.model_validate(organization)


@router.patch(
    "/organizations/{org_id}",
    operation_id="updateOrganization",
    summary="Change an organization's name or admin emails (org admin)",
    description="For the organization's admins (and system admins). Changes only the fields "
    "sent: a field left out, or sent as `null`, keeps its value; `admin_emails` replaces the "
    "whole list (an empty list removes every alert recipient). 403 for a member; 404 when it "
    "does not exist or is another organization; 422 for a blank name or an invalid email.",
    tags=["organizations"],
    responses=problems.admin_problems("organization"),
)
async def update_organization(
    org_id: uuid.UUID, data: OrganizationUpdate, session: SessionDep, principal: PrincipalDep
) -> OrganizationOut:
    organization = await service.update_organization(session, principal, org_id, data)
    return OrganizationOut.model_validate(organization)


@router.post(
    "/organizations/{org_id}/cohorts",
    status_code=status.HTTP_201_CREATED,
    operation_id="createCohort",
    summary="Create a cohort and its Cal.com webhook secret (system admin)",
    description="For system admins. Creates a cohort of the organization and its webhook "
    "secret, shown in this answer only (and on rotation): paste `webhook_url` and "
    "`webhook_secret` into Cal.com's webhook settings. 403 for anyone but a system admin; 404 "
    "when the organization does not exist.",
    tags=["cohorts"],
    responses=problems.system_admin_problems("organization"),
)
async def create_cohort(
    org_id: uuid.UUID,
    data: CohortCreate,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
) -> CohortCreated:
    cohort = await service.create_cohort(session, principal, org_id, data.name)
    out = cohort_out(request, cohort)
    return CohortCreated(**out.model_dump(), webhook_secret=cohort.webhook_secret)


@router.get(
    "/organizations/{org_id}/cohorts",
    operation_id="listCohorts",
    summary="List an organization's cohorts",
    description="For anyone of the organization (and system admins), newest first, a page at "
    "a time (`cursor` is the previous page's `next_cursor`); never shows webhook secrets. 404 "
    "when the organization does not exist or is another; 422 for a bad `limit` or a cursor "
    "this service did not give out.",
    tags=["cohorts"],
    responses=problems.member_problems("organization"),
)
async def list_cohorts(
    org_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Page[CohortOut]:
    cohorts, next_cursor = await service.list_cohorts(session, principal, org_id, cursor, limit)
    connections = await service.calcom_connections(session, [c.id for c in cohorts])
    return Page(
        items=[cohort_out(request, c, connections.get(c.id)) for c in cohorts],
        next_cursor=next_cursor,
    )


@router.get(
    "/cohorts/{cohort_id}",
    operation_id="getCohort",
    summary="Read a cohort (without its secret)",
    description="For anyone of the cohort's organization (and system admins); changes "
    "nothing. 404 when it does not exist or is another organization's.",
    tags=["cohorts"],
    responses=problems.member_problems("cohort"),
)
async def get_cohort(
    cohort_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> CohortOut:
    cohort = await tenancy.get_cohort(session, principal, cohort_id)
    connections = await service.calcom_connections(session, [cohort.id])
    return cohort_out(request, cohort, connections.get(cohort.id))


@router.post(
    "/cohorts/{cohort_id}/webhook-secret/rotate",
    operation_id="rotateWebhookSecret",
    summary="Issue a new webhook secret; the previous one stays valid for a grace period",
    description="For system admins. Replaces the cohort's webhook secret; deliveries signed "
    "with the previous one are still accepted until `previous_secret_expires_at` "
    "(`WEBHOOK_SECRET_GRACE_HOURS`), and a secret rotated out earlier stops working at once. "
    "Paste the new secret into Cal.com before the grace period ends. 403 for anyone but a "
    "system admin; 404 when the cohort does not exist or is another organization's.",
    tags=["cohorts"],
    responses=problems.system_admin_problems("cohort"),
)
async def rotate_webhook_secret(
    cohort_id: uuid.UUID, request: Request, session: SessionDep, principal: PrincipalDep
) -> SecretRotated:
    grace = request.app.state.settings.webhook_secret_grace_hours
    secret, expires_at = await service.rotate_webhook_secret(
        session, principal, cohort_id, timedelta(hours=grace)
    )
    return SecretRotated(webhook_secret=secret, previous_secret_expires_at=expires_at)
