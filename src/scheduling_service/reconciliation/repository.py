import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.models import Booking, CalcomConnection
from scheduling_service.reconciliation.plan import Seen
from scheduling_service.repository import Repository

_UIDS_PER_QUERY = 5000


class ConnectionRepository(Repository[CalcomConnection]):
    async def get(self, cohort_id: uuid.UUID) -> CalcomConnection | None:
        return await self.session.get(CalcomConnection, cohort_id)

    async def delete(self, cohort_id: uuid.UUID) -> bool:
        result = await self.session.execute(
            delete(CalcomConnection)
            .where(CalcomConnection.cohort_id == cohort_id)
            .returning(CalcomConnection.cohort_id)
        )
        return result.first() is not None

    async def take_lease(
        self, cohort_id: uuid.UUID, owner: str, duration: timedelta
    ) -> CalcomConnection | None:
        """The connection, leased to `owner`; None when another holds an unexpired lease."""
        now = func.clock_timestamp()
        leased = await self.session.scalars(
            update(CalcomConnection)
            .where(
                CalcomConnection.cohort_id == cohort_id,
                or_(
                    CalcomConnection.lease_expires_at.is_(None),
                    CalcomConnection.lease_expires_at < now,
                    CalcomConnection.lease_owner == owner,
                ),
            )
            .values(lease_owner=owner, lease_expires_at=now + duration)
            .returning(CalcomConnection)
            .execution_options(populate_existing=True)
        )
        return leased.one_or_none()

    async def due(self, interval: timedelta, limit: int) -> list[uuid.UUID]:
        """Cohorts whose last run is older than `interval` and that nobody holds."""
        now = func.clock_timestamp()
        rows = await self.session.scalars(
            select(CalcomConnection.cohort_id)
            .where(
                or_(
                    CalcomConnection.last_run_at.is_(None),
                    CalcomConnection.last_run_at < now - interval,
                ),
                or_(
                    CalcomConnection.lease_expires_at.is_(None),
                    CalcomConnection.lease_expires_at < now,
                ),
            )
            .order_by(CalcomConnection.last_run_at.asc().nulls_first())
            .limit(limit)
        )
        return list(rows)

    async def release(
        self,
        cohort_id: uuid.UUID,
        owner: str,
        *,
        ran_at: datetime,
        error: str | None,
        watermark: datetime | None = None,
    ) -> CalcomConnection | None:
        """Record how a run ended and give the lease back (if it is still this owner's)."""
        connection = await self.session.get(CalcomConnection, cohort_id, with_for_update=True)
        if connection is None:
            return None
        connection.last_run_at = ran_at
        connection.last_error = error
        if error is None:
            connection.last_success_at = ran_at
            if watermark is not None and (
                connection.watermark is None or watermark > connection.watermark
            ):
                connection.watermark = watermark
        if connection.lease_owner == owner:
            connection.lease_owner = None
            connection.lease_expires_at = None
        await self.session.flush()
        return connection


class KnownBookingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def seen(self, cohort_id: uuid.UUID, uids: Collection[str]) -> dict[str, dict[str, Seen]]:
        """Booking uid -> applicant email -> state and start, for the uids the cohort knows."""
        known: dict[str, dict[str, Seen]] = {}
        wanted = list(uids)
        # In slices: a statement carries at most 32,767 parameters.
        for first in range(0, len(wanted), _UIDS_PER_QUERY):
            rows = await self.session.execute(
                select(
                    Booking.uid, Booking.applicant_email, Booking.state, Booking.start_time
                ).where(
                    Booking.cohort_id == cohort_id,
                    Booking.uid.in_(wanted[first : first + _UIDS_PER_QUERY]),
                )
            )
            for uid, email, state, start in rows:
                known.setdefault(uid, {})[email] = Seen(state, start)
        return known
