"""The ceiling: PostgreSQL alone executing the SQL the service executes for each delivery.

One delivery of each kind is run through the service's own code (`webhooks.service.ingest`,
no HTTP) while every statement it sends is recorded, with its parameters. Those statements
are then replayed with asyncpg, one transaction per synthetic event, with the event's own
values in place of the recorded ones (its uid, email, event ID, body, the rows it touches,
fresh IDs for the rows it inserts), at several concurrencies. Synchronous commit stays on.
"""

import asyncio
import importlib
import re
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection as SyncConnection

from bench.cpu import CpuMeter
from bench.workload import Event, Kind, Workload
from scheduling_service.config import Settings
from scheduling_service.db import DeliveryTransactions, create_engine, create_sessionmaker
from scheduling_service.organizations.secrets import CohortSecretCache
from scheduling_service.webhooks import service

ORIGINAL_KINDS = (
    Kind.CREATED,
    Kind.ORPHAN,
    Kind.RESCHEDULED,
    Kind.CANCELLED,
    Kind.RESCHEDULED_ORPHAN,
    Kind.CANCELLED_ORPHAN,
)
EXPECTED = {
    Kind.CREATED: "matched",
    Kind.RESCHEDULED: "matched",
    Kind.CANCELLED: "matched",
    Kind.ORPHAN: "orphaned",
    Kind.RESCHEDULED_ORPHAN: "orphaned",
    Kind.CANCELLED_ORPHAN: "orphaned",
    Kind.DUPLICATE: "duplicate",
    Kind.RESENT: "duplicate",
}
# Alerts per admin and window before orphans join a digest: capture the steady state.
ORPHANS_BEFORE_CAPTURE = 7

Statement = tuple[str, tuple[Any, ...]]
TemplateKey = tuple[Kind, Kind]


def key_of(event: Event) -> TemplateKey:
    # An exact copy is refused at the event log, whatever it copies.
    if event.kind is Kind.DUPLICATE:
        return (Kind.DUPLICATE, Kind.DUPLICATE)
    return (event.kind, event.original_kind)


@dataclass
class Entities:
    """The rows an event touches that exist before it: found by email and uid."""

    application: uuid.UUID | None = None
    booking: uuid.UUID | None = None
    orphan: uuid.UUID | None = None


def _target_uid(event: Event) -> str | None:
    origin = event.origin
    if origin.kind in (Kind.RESCHEDULED, Kind.RESCHEDULED_ORPHAN):
        return origin.reschedule_uid
    if origin.kind in (Kind.CANCELLED, Kind.CANCELLED_ORPHAN):
        return origin.uid
    return None


async def resolve(
    connection: asyncpg.Connection, cohort_id: uuid.UUID, events: Sequence[Event]
) -> list[Entities]:
    emails = list({e.origin.email for e in events})
    uids = list({uid for e in events if (uid := _target_uid(e)) is not None})
    applications = {
        row["email"]: row["id"]
        for row in await connection.fetch(
            "SELECT lower(contact_email) AS email, id FROM applications"
            " WHERE cohort_id = $1 AND lower(contact_email) = ANY($2::text[])",
            cohort_id,
            emails,
        )
    }
    bookings = {
        (row["uid"], row["applicant_email"]): row
        for row in await connection.fetch(
            "SELECT uid, applicant_email, id, orphaned_interview_id FROM bookings"
            " WHERE cohort_id = $1 AND uid = ANY($2::text[])",
            cohort_id,
            uids,
        )
    }
    found = []
    for event in events:
        origin = event.origin
        target = bookings.get((_target_uid(event) or "", origin.email))
        found.append(
            Entities(
                application=applications.get(origin.email),
                booking=target["id"] if target else None,
                orphan=target["orphaned_interview_id"] if target else None,
            )
        )
    return found


@dataclass
class Template:
    key: TemplateKey
    event: Event
    entities: Entities
    statements: list[Statement]
    outcome: str


def _tokens(event: Event) -> dict[str, str]:
    origin = event.origin
    tokens = {
        event.uid: "uid",
        event.email: "email",
        event.name: "name",
        event.event_id: "event_id",
        event.created_at: "created_at",
        event.start.isoformat(): "start",
        event.end.isoformat(): "end",
        origin.event_id: "origin_event_id",
    }
    if event.reschedule_uid:
        tokens[event.reschedule_uid] = "reschedule_uid"
    return tokens


def _values(event: Event) -> dict[str, str]:
    return {name: value for value, name in _tokens(event).items()}


class Mapper:
    """Turns a template's recorded parameters into a synthetic event's."""

    def __init__(self, template: Template, cohort_id: uuid.UUID) -> None:
        self.template = template
        tokens = _tokens(template.event)
        self.names = tokens
        self.pattern = re.compile(
            "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
        )
        self.fixed: dict[uuid.UUID, str] = {cohort_id: "cohort"}
        entities = template.entities
        for role in ("application", "booking", "orphan"):
            value = getattr(entities, role)
            if value is not None:
                self.fixed[value] = role
        self.cohort_id = cohort_id

    def for_event(
        self, event: Event, entities: Entities, generated: dict[tuple[str, uuid.UUID], uuid.UUID]
    ) -> list[Statement]:
        """`generated` holds the IDs each original event inserted, by the template's IDs: a
        copy's statements name the rows its original inserted (the template of a copy was
        recorded as a copy of the original's template, so the same IDs appear in both)."""
        values = _values(event)
        names = self.names
        origin = event.origin.event_id
        template_event = self.template.event

        own: dict[uuid.UUID, uuid.UUID] = {}
        is_copy = event.original is not None

        def fresh(value: uuid.UUID) -> uuid.UUID:
            if not is_copy:
                return generated.setdefault((origin, value), uuid.uuid4())
            return generated.get((origin, value)) or own.setdefault(value, uuid.uuid4())

        def text(value: str) -> str:
            return self.pattern.sub(lambda m: values[names[m.group(0)]], value)

        def one(value: Any) -> Any:
            if isinstance(value, str):
                return text(value)
            if isinstance(value, uuid.UUID):
                role = self.fixed.get(value)
                if role == "cohort":
                    return value
                found: uuid.UUID | None = getattr(entities, role) if role else None
                return found or fresh(value)
            if isinstance(value, bytes):
                return event.body if value == template_event.body else value
            if isinstance(value, datetime):
                if value == template_event.start:
                    return event.start
                if value == template_event.end:
                    return event.end
                return value
            if isinstance(value, list):
                return [one(v) for v in value]
            return value

        return [(sql, tuple(one(p) for p in params)) for sql, params in self.template.statements]


async def capture(
    database_url: str, settings: Settings, workload: Workload
) -> dict[TemplateKey, Template]:
    """Run one delivery of every kind through the service, recording its statements."""
    engine = create_engine(database_url, settings)
    recorded: list[Statement] = []

    @sa_event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(
        conn: SyncConnection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        recorded.append((statement, tuple(parameters or ())))

    # The hot path sends most statements to asyncpg directly (`scheduling_service.driver`):
    # record those too, in order with SQLAlchemy's. (Older code, measured for comparison,
    # has no such module.)
    driver = _driver_module()
    originals = (
        (driver.fetch, driver.fetchrow, getattr(driver, "executemany", None)) if driver else None
    )

    async def fetch(session: Any, statement: Any, values: Any) -> Any:
        assert originals is not None
        recorded.append((statement.sql, tuple(statement.args(values))))
        return await originals[0](session, statement, values)

    async def fetchrow(session: Any, statement: Any, values: Any) -> Any:
        assert originals is not None
        recorded.append((statement.sql, tuple(statement.args(values))))
        return await originals[1](session, statement, values)

    async def executemany(session: Any, statement: Any, values: Any) -> Any:
        # Replayed as one statement per row: a round trip more per row than the service.
        assert originals is not None
        assert originals[2] is not None
        for each in values:
            recorded.append((statement.sql, tuple(statement.args(each))))
        return await originals[2](session, statement, values)

    if driver is not None:
        driver.fetch, driver.fetchrow = fetch, fetchrow
        if originals is not None and originals[2] is not None:
            driver.executemany = executemany
    sessionmaker = create_sessionmaker(engine)
    intake = service.Intake(
        DeliveryTransactions(engine),
        sessionmaker,
        settings,
        None,
        CohortSecretCache(sessionmaker, refresh_seconds=60),
    )
    cohort = workload.cohort
    connection = await asyncpg.connect(_dsn(database_url))
    templates: dict[TemplateKey, Template] = {}

    async def run(event: Event) -> None:
        (entities,) = await resolve(connection, cohort.id, [event])
        recorded.clear()
        result = await service.ingest(intake, cohort.id, event.body, event.signature)
        outcome = result.outcome.kind.value
        if outcome != EXPECTED[event.kind]:
            raise AssertionError(f"{event.kind} answered {outcome}, not {EXPECTED[event.kind]}")
        key = key_of(event)
        templates[key] = Template(key, event, entities, list(recorded), outcome)

    try:
        for _ in range(ORPHANS_BEFORE_CAPTURE - 1):
            await service.ingest(
                intake, cohort.id, (e := workload.of_kind(Kind.ORPHAN)).body, e.signature
            )
        first = {}
        for kind in ORIGINAL_KINDS:
            first[kind] = workload.of_kind(kind)
            await run(first[kind])
        await run(workload.of_kind(Kind.DUPLICATE))
        for kind in ORIGINAL_KINDS:
            await run(workload._resend(first[kind]))
    finally:
        if driver is not None and originals is not None:
            driver.fetch, driver.fetchrow = originals[:2]
            if originals[2] is not None:
                driver.executemany = originals[2]
        await connection.close()
        await engine.dispose()
    workload.settle()
    # Copies of these would name rows the replay knows nothing of.
    workload.forget_recent()
    return templates


def _driver_module() -> Any:
    try:
        return importlib.import_module("scheduling_service.driver")
    except ImportError:
        return None


def _dsn(url: str) -> str:
    from bench.database import asyncpg_dsn

    return asyncpg_dsn(url)


@dataclass
class LevelResult:
    concurrency: int
    events: int
    seconds: float
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def tps(self) -> float:
        return (self.events - sum(self.errors.values())) / self.seconds if self.seconds else 0.0


async def replay(
    dsn: str,
    cohort_id: uuid.UUID,
    templates: dict[TemplateKey, Template],
    events: Sequence[Event],
    concurrency: int,
    generated: dict[tuple[str, uuid.UUID], uuid.UUID],
    meter: CpuMeter | None = None,
) -> LevelResult:
    """Replay the events' statements, `concurrency` transactions at a time."""
    setup = await asyncpg.connect(dsn)
    try:
        entities = await resolve(setup, cohort_id, events)
    finally:
        await setup.close()
    mappers = {key: Mapper(t, cohort_id) for key, t in templates.items()}
    work = [
        mappers[key_of(e)].for_event(e, found, generated)
        for e, found in zip(events, entities, strict=True)
    ]
    connections = [await asyncpg.connect(dsn) for _ in range(concurrency)]
    result = LevelResult(concurrency, len(work), 0.0)
    queue = iter(work)

    async def worker(connection: asyncpg.Connection) -> None:
        for statements in queue:
            try:
                async with connection.transaction():
                    for sql, params in statements:
                        if params:
                            await connection.fetch(sql, *params)
                        else:
                            await connection.execute(sql)
            except asyncpg.PostgresError as error:
                result.errors[type(error).__name__] += 1
                if len(result.samples) < 5:
                    result.samples.append(f"{error}: {statements[-1][0][:80]}")

    try:
        # Prepare every statement on every connection first, as a warmed-up server has.
        for connection in connections:
            for template in templates.values():
                for sql, params in template.statements:
                    if params:
                        await connection.prepare(sql)
        if meter is not None:
            meter.start()
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in connections))
        result.seconds = time.perf_counter() - started
        if meter is not None:
            result.cpu = meter.stop()
    finally:
        for connection in connections:
            await connection.close()
    return result
