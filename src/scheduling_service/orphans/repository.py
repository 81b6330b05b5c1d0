import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, TextClause, bindparam, case, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver
from scheduling_service.models import Application, Booking, OrphanedInterview, OrphanState
from scheduling_service.orphans.ranking import SEARCH_SIMILARITY, Signals
from scheduling_service.pagination import Keyset, split_page
from scheduling_service.repository import Repository

_orphans = cast(Table, OrphanedInterview.__table__)
_bookings = cast(Table, Booking.__table__)
# What an orphan shows of its booking, and who booked it.
_BOOKING_FIELDS = ("booking_uid", "start_time", "end_time", "meeting_url")
_BOOKER_FIELDS = ("applicant_name", "applicant_email", "time_zone")


def _link_booking() -> Any:
    """The booking's orphan is now `orphan_id` (a part of the statements below)."""
    return (
        update(_bookings)
        .where(_bookings.c.id == bindparam("booking_id"))
        .values(orphaned_interview_id=bindparam("orphan_id"))
        .cte("link")
    )


# The webhook path's statements, each one round trip on the transaction's connection.
_OPEN = driver.Sql(
    insert(_orphans)
    .values(
        id=bindparam("orphan_id"),
        cohort_id=bindparam("cohort_id"),
        state=OrphanState.OPEN,
        webhook_event_id=bindparam("webhook_event_id"),
        **{c: bindparam(c, type_=_orphans.c[c].type) for c in (*_BOOKING_FIELDS, *_BOOKER_FIELDS)},
    )
    .add_cte(_link_booking())
)
_before = (
    select(_orphans.c.state)
    .where(_orphans.c.id == bindparam("orphan_id"))
    .with_for_update()
    .cte("before")
)
_was_cancelled = _orphans.c.state == OrphanState.CANCELLED
# A cancelled orphan is reopened (the applicant booked again); a dismissed one stays so.
_FOLLOW = driver.Sql(
    update(_orphans)
    .where(_orphans.c.id == bindparam("orphan_id"))
    .values(
        state=case((_was_cancelled, OrphanState.OPEN), else_=_orphans.c.state),
        resolved_at=case((_was_cancelled, None), else_=_orphans.c.resolved_at),
        **{c: bindparam(c, type_=_orphans.c[c].type) for c in _BOOKING_FIELDS},
    )
    .add_cte(_before, _link_booking())
    .returning(select(_before.c.state).scalar_subquery())
)
_CANCEL = driver.Sql(
    update(_orphans)
    .where(_orphans.c.id == bindparam("orphan_id"), _orphans.c.state == OrphanState.OPEN)
    .values(state=OrphanState.CANCELLED, resolved_at=func.now())
    .returning(_orphans.c.id)
)
_LOCK = driver.Sql(
    select(_orphans.c.id).where(_orphans.c.id == bindparam("orphan_id")).with_for_update()
)


class OrphanRepository(Repository[OrphanedInterview]):
    async def open(
        self,
        *,
        cohort_id: uuid.UUID,
        booking_id: uuid.UUID,
        webhook_event_id: uuid.UUID,
        applicant_name: str | None,
        applicant_email: str,
        time_zone: str | None,
        booking_uid: str,
        start_time: datetime,
        end_time: datetime,
        meeting_url: str | None,
    ) -> uuid.UUID:
        """Store an open orphan for the booking, and make it the booking's orphan."""
        orphan_id = uuid.uuid4()
        values = {
            "orphan_id": orphan_id,
            "cohort_id": cohort_id,
            "booking_id": booking_id,
            "webhook_event_id": webhook_event_id,
            "applicant_name": applicant_name,
            "applicant_email": applicant_email,
            "time_zone": time_zone,
            "booking_uid": booking_uid,
            "start_time": start_time,
            "end_time": end_time,
            "meeting_url": meeting_url,
        }
        await driver.fetch(self.executor, _OPEN, values)
        return orphan_id

    async def follow(
        self,
        orphan_id: uuid.UUID,
        *,
        booking_id: uuid.UUID,
        booking_uid: str,
        start_time: datetime,
        end_time: datetime,
        meeting_url: str | None,
    ) -> bool:
        """The orphan now describes the booking, its booking's orphan; answers whether it was
        reopened (it was cancelled)."""
        values = {
            "orphan_id": orphan_id,
            "booking_id": booking_id,
            "booking_uid": booking_uid,
            "start_time": start_time,
            "end_time": end_time,
            "meeting_url": meeting_url,
        }
        row = await driver.fetchrow(self.executor, _FOLLOW, values)
        assert row is not None, "a booking's orphan is never deleted"
        return bool(row[0] == OrphanState.CANCELLED)

    async def cancel(self, orphan_id: uuid.UUID) -> bool:
        """Cancel the orphan if it is open; answers whether it was."""
        row = await driver.fetchrow(self.executor, _CANCEL, {"orphan_id": orphan_id})
        return row is not None

    async def lock(self, orphan_id: uuid.UUID) -> None:
        await driver.fetch(self.executor, _LOCK, {"orphan_id": orphan_id})

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
            OrphanedInterview.cohort_id == cohort_id, OrphanedInterview.state == state
        )
        keyset = Keyset(OrphanedInterview.created_at, OrphanedInterview.id, newest_first=True)
        rows = (await self.session.scalars(keyset.apply(query, cursor, limit))).all()
        return split_page(rows, limit, lambda o: (o.created_at, o.id))

    async def count_open(self, cohort_id: uuid.UUID) -> int:
        query = select(func.count()).where(
            OrphanedInterview.cohort_id == cohort_id,
            OrphanedInterview.state == OrphanState.OPEN,
        )
        return int(await self.session.scalar(query) or 0)


# Each orphan's canonical email (and its local part) and name, as the terms hold them.
_ORPHANS = """
    FROM unnest(
        CAST(:orphan_ids AS uuid[]), CAST(:cohort_ids AS uuid[]),
        CAST(:names AS text[]), CAST(:emails AS text[])
    ) AS o(id, cohort_id, name, email)
    CROSS JOIN LATERAL (
        SELECT canonical_email(o.email) AS email,
               split_part(canonical_email(o.email), '@', 1) AS local
    ) AS canonical
"""

# Every signal of each orphan's best candidates, whichever lookup found them, so that a
# candidate reads the same in the list and in the detail.
_SIGNALS_OF_BEST = """
    CROSS JOIN LATERAL (
        SELECT coalesce(max(similarity(t.terms, o.name))
                   FILTER (WHERE t.field = 'applicant_name'), 0) AS name_similarity,
               coalesce(max(similarity(t.email_local, canonical.local))
                   FILTER (WHERE t.field = 'contact_email'), 0) AS email_similarity,
               coalesce(bool_or(t.canonical_email = canonical.email), false) AS same_canonical
        FROM application_search_terms t
        WHERE t.application_id = c.application_id
    ) AS f
"""

# The detail: the applications of the orphan's cohort with the same canonical email, or a
# name or an email's local part at least pg_trgm.similarity_threshold (SEARCH_SIMILARITY)
# similar (`%`). A branch per signal, each an index lookup (the canonical emails' btree, the
# trigram GINs of the terms and of the local parts, all led by the cohort), never a filter
# over the cohort.
_SIMILAR = text(
    f"""
    SELECT o.id, c.application_id, f.same_canonical, f.name_similarity, f.email_similarity
    {_ORPHANS}
    CROSS JOIN LATERAL (
        SELECT m.application_id
        FROM (
            SELECT application_id, CAST(2 AS real) AS strength
            FROM application_search_terms
            WHERE cohort_id = o.cohort_id AND canonical_email = canonical.email
            UNION ALL
            SELECT application_id, similarity(email_local, canonical.local)
            FROM application_search_terms
            WHERE cohort_id = o.cohort_id AND email_local IS NOT NULL  -- the index's rows
              AND email_local % canonical.local
            UNION ALL
            SELECT application_id, similarity(terms, o.name)
            FROM application_search_terms
            WHERE cohort_id = o.cohort_id AND field = 'applicant_name' AND terms % o.name
        ) AS m
        GROUP BY m.application_id
        ORDER BY max(m.strength) DESC, m.application_id
        LIMIT :per_orphan
    ) AS c
    {_SIGNALS_OF_BEST}
    """
)

# The list: only what exact lookups find (the same canonical email, the same name), a few
# index reads an orphan where a trigram search of a large cohort takes tens of milliseconds
# or more (bench/RESULTS.md).
_SAME = text(
    f"""
    SELECT o.id, c.application_id, f.same_canonical, f.name_similarity, f.email_similarity
    {_ORPHANS}
    CROSS JOIN LATERAL (
        SELECT m.application_id
        FROM (
            SELECT application_id, 2 AS strength
            FROM application_search_terms
            WHERE cohort_id = o.cohort_id AND canonical_email = canonical.email
            UNION ALL
            (
                -- A common name is shared by hundreds: the first few, as ties are broken.
                SELECT application_id, 1
                FROM application_search_terms
                WHERE cohort_id = o.cohort_id AND field = 'applicant_name' AND terms = o.name
                ORDER BY application_id
                LIMIT :per_orphan
            )
        ) AS m
        GROUP BY m.application_id
        ORDER BY max(m.strength) DESC, m.application_id
        LIMIT :per_orphan
    ) AS c
    {_SIGNALS_OF_BEST}
    """
)


class CandidateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def similar(
        self, orphans: Sequence[OrphanedInterview], per_orphan: int
    ) -> dict[uuid.UUID, list[Signals]]:
        """For each orphan, up to `per_orphan` applications of its cohort that look like its
        booker by any signal, strongest first."""
        if not orphans:
            return {}
        # `%` finds what is at least this similar (for this transaction only).
        await self.session.execute(
            text("SELECT set_config('pg_trgm.similarity_threshold', :threshold, true)"),
            {"threshold": str(SEARCH_SIMILARITY)},
        )
        return await self._signals(_SIMILAR, orphans, per_orphan)

    async def same(
        self, orphans: Sequence[OrphanedInterview], per_orphan: int
    ) -> dict[uuid.UUID, list[Signals]]:
        """For each orphan, up to `per_orphan` applications of its cohort with the booker's
        email (ignoring dots and `+tags`) or name, with every signal."""
        if not orphans:
            return {}
        return await self._signals(_SAME, orphans, per_orphan)

    async def _signals(
        self, query: TextClause, orphans: Sequence[OrphanedInterview], per_orphan: int
    ) -> dict[uuid.UUID, list[Signals]]:
        rows = await self.session.execute(
            query,
            {
                "orphan_ids": [o.id for o in orphans],
                "cohort_ids": [o.cohort_id for o in orphans],
                # Lowered and trimmed as the terms are. No name: NULL, which matches nothing
                # (an empty string would match through every trigram of the cohort).
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
