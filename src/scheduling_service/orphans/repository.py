import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.models import OrphanedInterview, OrphanState
from scheduling_service.pagination import Keyset, split_page


class OrphanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, orphan: OrphanedInterview) -> OrphanedInterview:
        self.session.add(orphan)
        await self.session.flush()
        return orphan

    async def get(
        self, orphan_id: uuid.UUID, *, for_update: bool = False
    ) -> OrphanedInterview | None:
        return await self.session.get(
            OrphanedInterview, orphan_id, with_for_update=for_update, populate_existing=for_update
        )

    async def list(
        self, cohort_id: uuid.UUID, state: OrphanState, cursor: str | None, limit: int
    ) -> tuple[list[OrphanedInterview], str | None]:
        query: Any = select(OrphanedInterview).where(
            OrphanedInterview.cohort_id == cohort_id, OrphanedInterview.state == state.value
        )
        keyset = Keyset(OrphanedInterview.created_at, OrphanedInterview.id, newest_first=True)
        rows = (await self.session.scalars(keyset.apply(query, cursor, limit))).all()
        return split_page(rows, limit, lambda o: (o.created_at, o.id))

    async def count_open(self, cohort_id: uuid.UUID) -> int:
        query = select(func.count()).where(
            OrphanedInterview.cohort_id == cohort_id,
            OrphanedInterview.state == OrphanState.OPEN.value,
        )
        return int(await self.session.scalar(query) or 0)

    async def flush(self) -> None:
        await self.session.flush()
