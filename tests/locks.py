"""A lock held by another connection, so that a request of the service under test waits on it
for as long as a test needs, as a slow statement would run."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

ROW_OF_APPLICATION = "SELECT id FROM applications WHERE id = :id FOR UPDATE"


@asynccontextmanager
async def held(
    database_url: str, statement: str, params: dict[str, Any] | None = None
) -> AsyncIterator[None]:
    """What `statement` locks, held until the block ends."""
    holder = create_async_engine(database_url)
    try:
        async with holder.connect() as connection:
            await connection.execute(text(statement), params or {})
            yield
            await connection.rollback()
    finally:
        await holder.dispose()


async def waiting_on_locks(connection: AsyncConnection, naming: str | None = None) -> int:
    """How many of the database's sessions wait on a lock; only those whose statement names
    `naming`, when given."""
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    if naming is not None:
        query += " AND query LIKE :pattern"
    waiting = await connection.scalar(text(query), {"pattern": f"%{naming}%"})
    return int(waiting or 0)
