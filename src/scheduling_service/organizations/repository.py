import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select

from scheduling_service.models import CalcomConnection, Cohort, Organization
from scheduling_service.pagination import Keyset, split_page
from scheduling_service.repository import Repository


class OrganizationRepository(Repository[Organization]):
    async def get(self, organization_id: uuid.UUID) -> Organization | None:
        return await self.session.get(Organization, organization_id)


_cohorts = cast(Table, Cohort.__table__)
# What the webhook secret cache reads (`organizations.secrets`): built once, no ORM object.
_ALL_SECRETS = select(
    _cohorts.c.id,
    _cohorts.c.webhook_secret,
    _cohorts.c.previous_webhook_secret,
    _cohorts.c.previous_secret_expires_at,
)
_SECRETS = _ALL_SECRETS.where(_cohorts.c.id == bindparam("cohort_id"))


@dataclass(frozen=True)
class CohortSecrets:
    """What verifying a webhook delivery needs of its cohort."""

    id: uuid.UUID
    webhook_secret: str
    previous_webhook_secret: str | None
    previous_secret_expires_at: datetime | None


class CohortRepository(Repository[Cohort]):
    async def secrets(self, cohort_id: uuid.UUID) -> CohortSecrets | None:
        row = (await self.session.execute(_SECRETS, {"cohort_id": cohort_id})).first()
        return None if row is None else CohortSecrets(**row._mapping)

    async def all_secrets(self) -> list[CohortSecrets]:
        rows = await self.session.execute(_ALL_SECRETS)
        return [CohortSecrets(**row._mapping) for row in rows]

    async def get(self, cohort_id: uuid.UUID, *, for_update: bool = False) -> Cohort | None:
        return await self.session.get(Cohort, cohort_id, with_for_update=for_update)

    async def calcom_connections(
        self, cohort_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, CalcomConnection]:
        """The Cal.com connections of those cohorts that have one (set by `reconciliation`)."""
        rows = await self.session.scalars(
            select(CalcomConnection).where(CalcomConnection.cohort_id.in_(cohort_ids))
        )
        return {row.cohort_id: row for row in rows}

    async def list_for_organization(
        self, organization_id: uuid.UUID, cursor: str | None, limit: int
    ) -> tuple[list[Cohort], str | None]:
        keyset = Keyset(Cohort.created_at, Cohort.id, newest_first=True)
        query: Any = select(Cohort).where(Cohort.organization_id == organization_id)
        rows = (await self.session.scalars(keyset.apply(query, cursor, limit))).all()
        return split_page(rows, limit, lambda c: (c.created_at, c.id))
