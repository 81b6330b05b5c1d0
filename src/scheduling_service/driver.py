"""The webhook's hot path talks to asyncpg directly, inside the session's transaction.

Its statements are SQLAlchemy constructs, compiled once to PostgreSQL's text (`Sql`),
then sent on the asyncpg connection under the session: the same SQL, the same transaction,
without SQLAlchemy's per-execution work (a greenlet, an execution context, result wrapping),
which cost the webhook more CPU than PostgreSQL spent on the statements. Everything else
goes through the session as usual.

Errors are asyncpg's own (`asyncpg.PostgresError`, with `sqlstate`); `db.run_in_transaction`
and `db.is_database_unavailable` understand both kinds.
"""

from collections.abc import Mapping
from typing import Any, cast

import asyncpg
from sqlalchemy import ClauseElement, event
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.compiler import SQLCompiler

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]
_DRIVER = "scheduling_service.driver"


class Sql:
    """A statement compiled once: its SQL and the order of its named parameters.

    Values are passed as asyncpg takes them: JSONB as JSON text (SQLAlchemy's codecs on the
    connection take text), the rest as Python values. Parameters bound at build time (a
    LIMIT, a literal) keep their value.
    """

    def __init__(self, statement: ClauseElement) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
        self.sql = compiled.string
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.fixed = {
            name: compiled.binds[name].effective_value
            for name in self.names
            if not compiled.binds[name].required
        }

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        fixed = self.fixed
        return [values[name] if name in values else fixed[name] for name in self.names]


@event.listens_for(Session, "after_transaction_end")
def _forget_connection(session: Session, transaction: SessionTransaction) -> None:
    # The connection goes back to the pool with the session's outermost transaction.
    if transaction.parent is None:
        session.info.pop(_DRIVER, None)


async def connection(session: AsyncSession) -> asyncpg.Connection:
    """The session's asyncpg connection, in the session's transaction."""
    driver: asyncpg.Connection | None = session.info.get(_DRIVER)
    if driver is not None:
        return driver
    pooled = await (await session.connection()).get_raw_connection()
    driver = pooled.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        # SQLAlchemy sends BEGIN with a session's first statement, and the hot path's first
        # statement comes here. Its asyncpg adapter begins the transaction alone (one round
        # trip, no extra statement), and keeps it, so the session's commit ends it.
        await cast(Any, pooled)._start_transaction()
    session.info[_DRIVER] = driver
    return driver


async def fetch(
    session: AsyncSession, statement: Sql, values: Mapping[str, Any]
) -> list[asyncpg.Record]:
    driver = await connection(session)
    rows: list[asyncpg.Record] = await driver.fetch(statement.sql, *statement.args(values))
    return rows


async def fetchrow(
    session: AsyncSession, statement: Sql, values: Mapping[str, Any]
) -> asyncpg.Record | None:
    driver = await connection(session)
    row: asyncpg.Record | None = await driver.fetchrow(statement.sql, *statement.args(values))
    return row


async def executemany(
    session: AsyncSession, statement: Sql, values: list[Mapping[str, Any]]
) -> None:
    """The statement once for each of `values`, in one round trip."""
    driver = await connection(session)
    await driver.executemany(statement.sql, [statement.args(v) for v in values])
