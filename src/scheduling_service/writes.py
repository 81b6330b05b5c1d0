"""Batching the writes nobody reads back into one statement, for the webhook's hot path.

The webhook path reads and locks as it goes, then writes: the booking, the application, its
history, the booking it supersedes or cancels, the event's outcome. Those writes go out
together as data-modifying CTEs of one statement: one round trip instead of one each.

    WITH gate AS (INSERT INTO bookings ... ON CONFLICT DO NOTHING RETURNING id),
         w0 AS (UPDATE applications SET ... WHERE id = $1 AND EXISTS (SELECT 1 FROM gate)),
         w1 AS (INSERT INTO history_entries SELECT $2, ... WHERE EXISTS (SELECT 1 FROM gate)),
         w2 AS (UPDATE webhook_events SET outcome = ... WHERE ... AND EXISTS (...))
    SELECT 1 FROM gate

A gate is the write that decides whether the others happen (the booking stored once, the
booking cancelled once): when it changes no row, none of the writes does, and `flush` says so.

A template is a function of the condition its write runs under, with named bind parameters.
Each combination of templates is built once and kept: building statements per call would
cost more CPU than the round trips saved (SQLAlchemy derives a cache key from every statement
built afresh; one built once keeps its key).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asyncpg import Record
from sqlalchemy import ColumnElement, Insert, Select, Update, exists, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver

Statement = Insert | Update
Template = Callable[[ColumnElement[bool] | None], Statement]
"""Builds a write, under a condition (None: unconditional)."""


@dataclass(frozen=True)
class Write:
    """A template and this write's values for its bind parameters. Templates that go out
    together must name their parameters apart."""

    template: Template
    values: dict[str, Any]


_built: dict[tuple[Template | None, tuple[Template, ...]], driver.Sql] = {}


def _build(gate: Template | None, templates: tuple[Template, ...]) -> driver.Sql:
    key = (gate, templates)
    built = _built.get(key)
    if built is not None:
        return built
    statement: Statement | Select[Any]
    if gate is None:
        *before, last = templates
        statement = last(None)
        if before:
            statement = statement.add_cte(*(t(None).cte(f"w{n}") for n, t in enumerate(before)))
    else:
        opened = gate(None).cte("gate")
        condition = exists(opened.select())
        statement = select(literal_column("1")).select_from(opened)
        if templates:
            statement = statement.add_cte(
                *(t(condition).cte(f"w{n}") for n, t in enumerate(templates))
            )
    built = _built[key] = driver.Sql(statement)
    return built


async def execute(executor: driver.Executor, write: Write) -> None:
    """One write on its own."""
    await fetch(executor, write)


async def fetch(executor: driver.Executor, write: Write) -> list[Record]:
    """One write on its own: the rows it RETURNS."""
    return await driver.fetch(executor, _build(None, (write.template,)), write.values)


class PendingWrites:
    """Writes sent to PostgreSQL as one statement by `flush`. They must touch distinct rows
    (the parts of a statement do not see each other's changes), and nothing may read their
    rows before `flush`."""

    def __init__(self, executor: driver.Executor) -> None:
        self.executor = executor
        self.writes: list[Write] = []
        self.gate: Write | None = None

    def add(self, write: Write) -> None:
        self.writes.append(write)

    def gate_on(self, write: Write) -> None:
        """Make every write of this flush conditional on `write` (a DML statement RETURNING
        a row when it changed one) changing a row."""
        assert self.gate is None, "one gate per flush"
        self.gate = write

    async def flush(self) -> bool:
        """Send the writes; False when the gate changed nothing, so neither did the writes."""
        writes, self.writes = self.writes, []
        gate, self.gate = self.gate, None
        if not writes and gate is None:
            return True
        if isinstance(self.executor, AsyncSession):
            # Changes made to ORM objects meanwhile go first, as autoflush would send them.
            await self.executor.flush()
        values: dict[str, Any] = {}
        for write in [*writes, *([gate] if gate else [])]:
            values.update(write.values)
        statement = _build(gate.template if gate else None, tuple(w.template for w in writes))
        rows = await driver.fetch(self.executor, statement, values)
        return gate is None or bool(rows)
