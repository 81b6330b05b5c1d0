import uuid
from typing import Any

from sqlalchemy import ColumnElement, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from scheduling_service.models import Application, OrphanedInterview, OrphanState
from scheduling_service.orphans.ranking import MIN_SIMILARITY, Signals
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


def _canonical_email(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[str]:
    """The email with dots and any `+tag` removed from its local part, lower-cased."""
    lowered = func.lower(column)
    local = func.regexp_replace(func.split_part(lowered, "@", 1), r"\+.*$|\.", "", "g")
    return local + "@" + func.split_part(lowered, "@", 2)


class CandidateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def signals(self, orphan: OrphanedInterview, limit: int) -> list[Signals]:
        """Applications of the orphan's cohort that look like its booker, strongest first."""
        email = orphan.applicant_email.lower()
        name = (orphan.applicant_name or "").lower()
        same_canonical = _canonical_email(Application.contact_email) == _canonical_email(
            literal(email)
        )
        name_similarity = func.similarity(func.lower(Application.applicant_name), name)
        email_similarity = func.similarity(func.lower(Application.contact_email), email)
        query = (
            select(Application.id, same_canonical, name_similarity, email_similarity)
            .where(
                Application.cohort_id == orphan.cohort_id,
                or_(
                    same_canonical,
                    name_similarity >= MIN_SIMILARITY,
                    email_similarity >= MIN_SIMILARITY,
                ),
            )
            .order_by(
                same_canonical.desc(), func.greatest(name_similarity, email_similarity).desc()
            )
            .limit(limit)
        )
        rows = (await self.session.execute(query)).all()
        return [Signals(row[0], bool(row[1]), float(row[2]), float(row[3])) for row in rows]
