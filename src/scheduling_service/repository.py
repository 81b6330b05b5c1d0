"""What the repositories share: the transaction they work in (they flush it, never commit it),
and adding a row.

They are given a session, or a delivery's own transaction (`driver.Executor`): statements
compiled for the hot path run in either, the ORM only in a session (`session`).
"""

from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver
from scheduling_service.models import Base

RowT = TypeVar("RowT", bound=Base)


class Repository(Generic[RowT]):
    def __init__(self, executor: driver.Executor) -> None:
        self.executor = executor

    @property
    def session(self) -> AsyncSession:
        return driver.session_of(self.executor)

    async def add(self, row: RowT) -> RowT:
        """Insert `row` now, so its server defaults are read back and a refused constraint
        fails here, in the repository."""
        self.session.add(row)
        await self.session.flush()
        return row

    async def flush(self) -> None:
        await self.session.flush()
