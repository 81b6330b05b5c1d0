"""The tenancy rule for a cohort's data: anyone of the cohort's organization (and system
admins) may read it, its organization's admins may change it.

Every feature applies it before touching a cohort's applications, orphans, events or Cal.com
connection, and the cohort routes show each feature's part of a cohort: so it sits below them
all, importing none of them (`organizations` shows a cohort's Cal.com connection, which
`reconciliation` sets).
"""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.auth import Principal
from scheduling_service.errors import NotFound
from scheduling_service.models import Cohort


async def get_cohort(
    session: AsyncSession, principal: Principal, cohort_id: uuid.UUID, what: str = "cohort"
) -> Cohort:
    """The cohort, if the principal belongs to its organization.

    `what` names the resource asked for (an application of the cohort, say), so that one of
    another organization answers exactly as a missing one would.
    """
    # By primary key: the session's identity map answers a cohort read before.
    cohort = await session.get(Cohort, cohort_id)
    if cohort is None:
        raise NotFound(f"{what} not found")
    principal.ensure_member_of(cohort.organization_id, what)
    return cohort


async def get_cohort_as_admin(
    session: AsyncSession, principal: Principal, cohort_id: uuid.UUID, what: str = "cohort"
) -> Cohort:
    cohort = await get_cohort(session, principal, cohort_id, what)
    principal.ensure_admin_of(cohort.organization_id, what)
    return cohort
