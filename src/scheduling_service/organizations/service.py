import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.auth import Principal
from scheduling_service.errors import NotFound
from scheduling_service.models import CalcomConnection, Cohort, Organization
from scheduling_service.organizations.repository import CohortRepository, OrganizationRepository
from scheduling_service.organizations.schemas import OrganizationCreate, OrganizationUpdate

# 32 random bytes, as the SPEC asks; hex keeps it easy to paste into Cal.com.
SECRET_BYTES = 32


def new_webhook_secret() -> str:
    return secrets.token_hex(SECRET_BYTES)


async def create_organization(
    session: AsyncSession, principal: Principal, data: OrganizationCreate
) -> Organization:
    principal.ensure_system_admin()
    organization = Organization(name=data.name, admin_emails=_unique(data.admin_emails))
    return await OrganizationRepository(session).add(organization)


async def get_organization(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID
) -> Organization:
    organization = await OrganizationRepository(session).get(organization_id)
    if organization is None:
        raise NotFound("organization not found")
    principal.ensure_member_of(organization.id, "organization")
    return organization


async def update_organization(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    data: OrganizationUpdate,
) -> Organization:
    organization = await get_organization(session, principal, organization_id)
    principal.ensure_admin_of(organization.id, "organization")
    if data.name is not None:
        organization.name = data.name
    if data.admin_emails is not None:
        organization.admin_emails = _unique(data.admin_emails)
    await OrganizationRepository(session).flush()
    return organization


async def create_cohort(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, name: str
) -> Cohort:
    organization = await get_organization(session, principal, organization_id)
    principal.ensure_system_admin()
    cohort = Cohort(organization_id=organization.id, name=name, webhook_secret=new_webhook_secret())
    return await CohortRepository(session).add(cohort)


async def list_cohorts(
    session: AsyncSession,
    principal: Principal,
    organization_id: uuid.UUID,
    cursor: str | None,
    limit: int,
) -> tuple[list[Cohort], str | None]:
    organization = await get_organization(session, principal, organization_id)
    return await CohortRepository(session).list_for_organization(organization.id, cursor, limit)


async def calcom_connections(
    session: AsyncSession, cohort_ids: list[uuid.UUID]
) -> dict[uuid.UUID, CalcomConnection]:
    """What a cohort's view shows of its Cal.com connection, for cohorts the caller has read."""
    return await CohortRepository(session).calcom_connections(cohort_ids)


async def rotate_webhook_secret(
    session: AsyncSession, principal: Principal, cohort_id: uuid.UUID, grace: timedelta
) -> tuple[str, datetime]:
    """Answers the new secret and when the previous one stops being accepted."""
    repository = CohortRepository(session)
    cohort = await repository.get(cohort_id, for_update=True)
    if cohort is None:
        raise NotFound("cohort not found")
    principal.ensure_member_of(cohort.organization_id, "cohort")
    principal.ensure_system_admin()
    expires_at = datetime.now(UTC) + grace
    cohort.previous_webhook_secret = cohort.webhook_secret
    cohort.previous_secret_expires_at = expires_at
    cohort.webhook_secret = new_webhook_secret()
    await repository.flush()
    return cohort.webhook_secret, expires_at


def _unique(emails: list[str]) -> list[str]:
    return list(dict.fromkeys(emails))
