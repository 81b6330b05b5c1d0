import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

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


# Per orphan, the applications of its cohort with the same canonical email, or a name or an
# email similar enough for pg_trgm's `%` (similarity at least pg_trgm.similarity_threshold).
# A branch per signal, so that each is an index lookup (the canonical email's btree, the
# terms' trigram GIN, both led by the cohort) rather than one filter over the cohort's rows.
# LATERAL: one statement for any number of orphans, each with its own limit.
_SIGNALS = text(
    """
    SELECT o.id, c.application_id, c.same_canonical, c.name_similarity, c.email_similarity
    FROM unnest(
        CAST(:orphan_ids AS uuid[]), CAST(:cohort_ids AS uuid[]),
        CAST(:names AS text[]), CAST(:emails AS text[])
    ) AS o(id, cohort_id, name, email)
    CROSS JOIN LATERAL (
        SELECT * FROM (
            SELECT m.application_id,
                   bool_or(m.same_canonical) AS same_canonical,
                   coalesce(max(m.name_similarity), 0) AS name_similarity,
                   coalesce(max(m.email_similarity), 0) AS email_similarity
            FROM (
                SELECT application_id, true AS same_canonical,
                       CAST(NULL AS real) AS name_similarity,
                       CAST(NULL AS real) AS email_similarity
                FROM application_search_terms
                WHERE cohort_id = o.cohort_id AND canonical_email = canonical_email(o.email)
                UNION ALL
                SELECT application_id, false, NULL, similarity(terms, o.email)
                FROM application_search_terms
                WHERE cohort_id = o.cohort_id AND field = 'contact_email' AND terms % o.email
                UNION ALL
                SELECT application_id, false, similarity(terms, o.name), NULL
                FROM application_search_terms
                WHERE cohort_id = o.cohort_id AND field = 'applicant_name' AND terms % o.name
            ) AS m
            GROUP BY m.application_id
        ) AS s
        ORDER BY s.same_canonical DESC, greatest(s.name_similarity, s.email_similarity) DESC,
                 s.application_id
        LIMIT :per_orphan
    ) AS c
    """
)


class CandidateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def signals(
        self, orphans: Sequence[OrphanedInterview], per_orphan: int
    ) -> dict[uuid.UUID, list[Signals]]:
        """For each orphan, up to `per_orphan` applications of its cohort that look like its
        booker, strongest first."""
        if not orphans:
            return {}
        # `%` keeps what is at least this similar; the ranking drops the rest as noise.
        await self.session.execute(
            text("SELECT set_config('pg_trgm.similarity_threshold', :threshold, true)"),
            {"threshold": str(MIN_SIMILARITY)},
        )
        rows = await self.session.execute(
            _SIGNALS,
            {
                "orphan_ids": [o.id for o in orphans],
                "cohort_ids": [o.cohort_id for o in orphans],
                # No name: NULL, which `%` matches nothing with (an empty string would match
                # through every trigram of the cohort).
                "names": [(o.applicant_name or "").strip().lower() or None for o in orphans],
                "emails": [o.applicant_email.lower() for o in orphans],
                "per_orphan": per_orphan,
            },
        )
        found: dict[uuid.UUID, list[Signals]] = {o.id: [] for o in orphans}
        for orphan_id, application_id, same, name, email in rows:
            found[orphan_id].append(Signals(application_id, bool(same), float(name), float(email)))
        return found

    async def applications(self, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Application]:
        if not ids:
            return {}
        query = select(Application).where(Application.id.in_(list(ids)))
        return {a.id: a for a in (await self.session.scalars(query)).all()}
