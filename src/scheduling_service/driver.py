"""The webhook's hot path talks to asyncpg directly.

Its statements are SQLAlchemy constructs, compiled once to PostgreSQL's text (`Sql`), then
sent on an asyncpg connection: the same SQL, without SQLAlchemy's per-execution work (a
greenlet, an execution context, result wrapping), which cost the webhook more CPU than
PostgreSQL spent on the statements.

They run where they are given to (`Executor`): a delivery's own `Transaction`, on a
connection of the webhook pool with no session around it (`db.DeliveryTransactions`),
or a session's transaction (a replay, a retry, reconciliation, a manual match), on the
session's connection. The statements and the code sending them are the same either way.

Errors are asyncpg's own (`asyncpg.PostgresError`, with `sqlstate`); `db.run_in_transaction`
and `db.is_database_unavailable` understand both kinds.
"""

from collections.abc import Callable, Mapping
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


class Transaction:
    """A delivery's transaction on an asyncpg connection, without a session: what to count
    once it commits is kept here (`metrics.after_commit`)."""

    __slots__ = ("connection", "on_commit")

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.on_commit: list[Callable[[], object]] = []


Executor = AsyncSession | Transaction
"""Where the hot path's statements run."""


def session_of(executor: Executor) -> AsyncSession:
    """The session, for what only the ORM does (never on a delivery's own transaction)."""
    assert isinstance(executor, AsyncSession), "the ORM runs in a session's transaction"
    return executor


async def connection(executor: Executor) -> asyncpg.Connection:
    """The asyncpg connection, in the executor's transaction."""
    if isinstance(executor, Transaction):
        return executor.connection
    session = executor
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
    executor: Executor, statement: Sql, values: Mapping[str, Any]
) -> list[asyncpg.Record]:
    driver = await connection(executor)
    rows: list[asyncpg.Record] = await driver.fetch(statement.sql, *statement.args(values))
    return rows


async def fetchrow(
    executor: Executor, statement: Sql, values: Mapping[str, Any]
) -> asyncpg.Record | None:
    driver = await connection(executor)
    row: asyncpg.Record | None = await driver.fetchrow(statement.sql, *statement.args(values))
    return row


async def executemany(executor: Executor, statement: Sql, values: list[Mapping[str, Any]]) -> None:
    """The statement once for each of `values`, in one round trip."""
    driver = await connection(executor)
    await driver.executemany(statement.sql, [statement.args(v) for v in values])
