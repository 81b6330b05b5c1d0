import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.models import Cohort, Organization
from scheduling_service.pagination import Keyset, split_page


class OrganizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, organization: Organization) -> Organization:
        self.session.add(organization)
        await self.session.flush()
        return organization

    async def get(self, organization_id: uuid.UUID) -> Organization | None:
        return await self.session.get(Organization, organization_id)

    async def flush(self) -> None:
        await self.session.flush()


class CohortRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, cohort: Cohort) -> Cohort:
        self.session.add(cohort)
        await self.session.flush()
        return cohort

    async def get(self, cohort_id: uuid.UUID, *, for_update: bool = False) -> Cohort | None:
        return await self.session.get(Cohort, cohort_id, with_for_update=for_update)

    async def list_for_organization(
        self, organization_id: uuid.UUID, cursor: str | None, limit: int
    ) -> tuple[list[Cohort], str | None]:
        keyset = Keyset(Cohort.created_at, Cohort.id, newest_first=True)
        query: Any = select(Cohort).where(Cohort.organization_id == organization_id)
        rows = (await self.session.scalars(keyset.apply(query, cursor, limit))).all()
        return split_page(rows, limit, lambda c: (c.created_at, c.id))

    async def flush(self) -> None:
        await self.session.flush()
