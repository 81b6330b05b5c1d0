"""Reconciling a cohort with Cal.com's bookings API (SPEC section 3b).

A run: take the cohort's lease (one replica at a time), list the bookings Cal.com changed
since the watermark minus an overlap (no transaction open meanwhile), compare them with the
bookings the service knows (`plan.py`), then apply each difference in a transaction of its
own through the webhook's path (`webhooks.service.apply_reconciled`), a few at once when they
concern different bookings and applicants, and record the run.
Any number of runs, at any time, on any replica, apply a change once: its event ID is stored
once per cohort, and the applier is idempotent by booking uid as it is for webhooks.

A dry run applies every change in one transaction and rolls it back: it reports exactly what
a run would do, and changes nothing (nor the watermark, nor the lease).
"""

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import metrics
from scheduling_service.auth import Principal
from scheduling_service.config import Settings
from scheduling_service.db import SessionMaker, run_in_transaction
from scheduling_service.errors import Conflict, NotFound, UpstreamFailed
from scheduling_service.models import CalcomConnection, MessageKind
from scheduling_service.notifications.repository import NewMessage, OutboxRepository
from scheduling_service.periodic import run_periodically
from scheduling_service.reconciliation.client import (
    CalcomApiError,
    CalcomClient,
    KeyRejected,
    RetryPolicy,
)
from scheduling_service.reconciliation.plan import (
    Change,
    Known,
    Skipped,
    emptied_sessions,
    plan_changes,
)
from scheduling_service.reconciliation.repository import (
    ConnectionRepository,
    KnownBookingRepository,
)
from scheduling_service.reconciliation.secrets import UndecryptableKey, key_box
from scheduling_service.tenancy import get_cohort_as_admin
from scheduling_service.webhooks.applier import Outcome
from scheduling_service.webhooks.service import apply_reconciled

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionSettings:
    api_key: str
    base_url: str
    event_type_ids: list[int]


@dataclass(frozen=True)
class Applied:
    change: Change
    outcome: Outcome | None
    """None when the change was found before (its event ID is stored already)."""
    already_applied: bool = False


@dataclass
class RunResult:
    since: datetime
    applied: bool
    changes: list[Applied] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    bookings_read: int = 0


# The connection, set and cleared by an org admin.


async def set_connection(
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    cohort_id: uuid.UUID,
    wanted: ConnectionSettings,
) -> CalcomConnection:
    cohort = await get_cohort_as_admin(session, principal, cohort_id)
    connections = ConnectionRepository(session)
    sealed = key_box(settings).seal(wanted.api_key)
    connection = await connections.get(cohort.id)
    if connection is None:
        connection = CalcomConnection(
            cohort_id=cohort.id,
            api_key_encrypted=sealed,
            base_url=wanted.base_url,
            event_type_ids=wanted.event_type_ids,
        )
        return await connections.add(connection)
    connection.api_key_encrypted = sealed
    connection.base_url = wanted.base_url
    connection.event_type_ids = wanted.event_type_ids
    # A new key gets its own chance: the next refusal alerts again.
    connection.key_rejected_at = None
    connection.last_error = None
    await connections.flush()
    return connection


async def delete_connection(
    session: AsyncSession, principal: Principal, cohort_id: uuid.UUID
) -> None:
    cohort = await get_cohort_as_admin(session, principal, cohort_id)
    if not await ConnectionRepository(session).delete(cohort.id):
        raise NotFound("the cohort has no Cal.com connection")


# Runs.


async def reconcile_on_demand(
    sessionmaker: SessionMaker,
    principal: Principal,
    settings: Settings,
    cohort_id: uuid.UUID,
    since: datetime | None,
    dry_run: bool,
) -> RunResult:
    async def authorize(session: AsyncSession) -> None:
        await get_cohort_as_admin(session, principal, cohort_id)

    await run_in_transaction(sessionmaker, authorize)
    return await reconcile_now(sessionmaker, settings, cohort_id, since, dry_run)


async def reconcile_now(
    sessionmaker: SessionMaker,
    settings: Settings,
    cohort_id: uuid.UUID,
    since: datetime | None,
    dry_run: bool,
) -> RunResult:
    """A run asked for (by an admin, or `scheduling-service reconcile`), now."""
    result = await reconcile_cohort(
        sessionmaker, settings, cohort_id, _owner(), since=since, dry_run=dry_run
    )
    if result is None:
        raise Conflict("a reconciliation of this cohort is running; try again when it ends")
    return result


async def reconcile_cohort(
    sessionmaker: SessionMaker,
    settings: Settings,
    cohort_id: uuid.UUID,
    owner: str,
    *,
    since: datetime | None = None,
    dry_run: bool = False,
    stop: asyncio.Event | None = None,
) -> RunResult | None:
    """One run for one cohort; None when another replica holds its lease.

    Raises NotFound without a connection, UpstreamFailed when Cal.com cannot be used (the
    failure is then recorded on the connection, and a refused key alerts the admins once).
    """
    started = datetime.now(UTC)
    lease = timedelta(seconds=settings.reconcile_lease_seconds)

    async def begin(session: AsyncSession) -> CalcomConnection | None:
        connections = ConnectionRepository(session)
        if await connections.get(cohort_id) is None:
            raise NotFound("the cohort has no Cal.com connection")
        if dry_run:
            return await connections.get(cohort_id)
        return await connections.take_lease(cohort_id, owner, lease)

    connection = await run_in_transaction(sessionmaker, begin)
    if connection is None:
        return None
    window_start = since or _default_since(settings, connection, started)
    try:
        result, watermark = await _run(
            sessionmaker, settings, connection, window_start, dry_run, stop
        )
    except Exception as error:
        if not dry_run:
            await _record_failure(sessionmaker, cohort_id, owner, started, error)
        if isinstance(error, CalcomApiError):
            raise UpstreamFailed(str(error)) from None
        if isinstance(error, UndecryptableKey):
            raise Conflict(str(error)) from None
        raise
    if dry_run:
        return result

    async def finish(session: AsyncSession) -> None:
        done = await ConnectionRepository(session).release(
            cohort_id, owner, ran_at=started, error=None, watermark=watermark or started
        )
        if done is not None:
            done.key_rejected_at = None

    await run_in_transaction(sessionmaker, finish)
    metrics.RECONCILIATION_RUNS.labels("success").inc()
    logger.info(
        "reconciled cohort %s: %d bookings read, %d changes, %d applied",
        cohort_id,
        result.bookings_read,
        len(result.changes),
        sum(1 for a in result.changes if not a.already_applied),
    )
    return result


async def _run(
    sessionmaker: SessionMaker,
    settings: Settings,
    connection: CalcomConnection,
    since: datetime,
    dry_run: bool,
    stop: asyncio.Event | None,
) -> tuple[RunResult, datetime | None]:
    """Read, compare, apply (or rehearse); answers the result and the new watermark."""
    cohort_id = connection.cohort_id
    api_key = key_box(settings).open(connection.api_key_encrypted)
    async with _client(settings, connection, api_key) as client:
        event_type_ids = list(connection.event_type_ids)
        bookings = await client.bookings_changed_since(since, event_type_ids)
        known = await _known(sessionmaker, cohort_id, bookings)
        # A session whose seats its host merged into another booking: that booking is not
        # changed itself (its `updatedAt` stays), so it is asked for by a seat holder's email.
        found = {str(b["uid"]) for b in bookings}
        for holders in emptied_sessions(bookings, known).values():
            more = await client.bookings_of_attendee(holders[0], event_type_ids)
            bookings.extend(b for b in more if str(b.get("uid")) not in found)
            found.update(str(b.get("uid")) for b in more)
        known = await _known(sessionmaker, cohort_id, bookings)
    # Parsing thousands of bookings takes seconds of CPU under load: in a thread, the event
    # loop keeps answering webhooks meanwhile (the GIL is handed over every few ms).
    plan = await asyncio.to_thread(plan_changes, bookings, known)
    result = RunResult(since, applied=not dry_run, skipped=plan.skipped)
    result.bookings_read = len(bookings)
    if dry_run:
        result.changes = await _rehearse(sessionmaker, settings, cohort_id, plan.changes)
    else:
        result.changes = await _apply_all(sessionmaker, settings, cohort_id, plan.changes, stop)
    return result, _watermark(bookings) or connection.watermark


# Changes applied at once, each in a transaction (and a pooled connection) of its own. One at
# a time, a run waited for the busy event loop at every statement of every change.
_CHANGES_AT_ONCE = 4


async def _apply_all(
    sessionmaker: SessionMaker,
    settings: Settings,
    cohort_id: uuid.UUID,
    changes: list[Change],
    stop: asyncio.Event | None,
) -> list[Applied]:
    """Apply the changes, a few at once, leaving a pooled connection for the API: a change
    waits for every earlier one that names one of its booking uids or applicants, so those
    are applied in Cal.com's order, as their webhooks came; unrelated ones go on meanwhile."""
    at_once = asyncio.Semaphore(max(1, min(_CHANGES_AT_ONCE, settings.database_pool_size - 1)))
    applied: list[Applied | None] = [None] * len(changes)

    async def apply(index: int, change: Change, after: list[asyncio.Task[None]]) -> None:
        for earlier in after:
            await earlier
        async with at_once:
            if stop is not None and stop.is_set():
                done = sum(1 for a in applied if a is not None)
                raise RunStopped(
                    f"stopped by a shutdown after {done} of {len(changes)} changes; "
                    "the next run continues"
                )
            applied[index] = await _apply(sessionmaker, settings, cohort_id, change)

    latest: dict[str, asyncio.Task[None]] = {}
    try:
        async with asyncio.TaskGroup() as group:
            for index, change in enumerate(changes):
                keys = _keys(change)
                after = list({id(t): t for k in keys if (t := latest.get(k))}.values())
                task = group.create_task(apply(index, change, after))
                latest.update(dict.fromkeys(keys, task))
    except ExceptionGroup as failed:
        # The first failure, as one run at a time raised it; the others were cancelled.
        raise failed.exceptions[0] from None
    return [a for a in applied if a is not None]


def _keys(change: Change) -> set[str]:
    """What a change touches that another may too: its bookings and its applicants."""
    booking = change.booking
    keys = {f"uid:{booking.uid}", f"email:{booking.applicant_email}"}
    keys.update(f"email:{email}" for email in booking.attendee_emails)
    if booking.reschedule_uid:
        keys.add(f"uid:{booking.reschedule_uid}")
    if booking.application_id_hint:
        keys.add(f"application:{booking.application_id_hint}")
    return keys


def _client(settings: Settings, connection: CalcomConnection, api_key: str) -> CalcomClient:
    retry = RetryPolicy(
        settings.calcom_api_max_attempts,
        settings.calcom_api_retry_base_seconds,
        settings.calcom_api_retry_max_seconds,
    )
    return CalcomClient(
        connection.base_url, api_key, timeout=settings.calcom_api_timeout_seconds, retry=retry
    )


async def _known(
    sessionmaker: SessionMaker, cohort_id: uuid.UUID, bookings: list[dict[str, Any]]
) -> Known:
    """What the service knows of the bookings listed and of those they replaced, in one
    statement per 5,000 uids."""
    uids = {str(b["uid"]) for b in bookings}
    uids.update(str(b["rescheduledFromUid"]) for b in bookings if b.get("rescheduledFromUid"))

    async def read(session: AsyncSession) -> Known:
        return await KnownBookingRepository(session).seen(cohort_id, uids)

    return await run_in_transaction(sessionmaker, read)


async def _apply(
    sessionmaker: SessionMaker, settings: Settings, cohort_id: uuid.UUID, change: Change
) -> Applied:
    async def apply(session: AsyncSession) -> Outcome | None:
        return await apply_reconciled(
            session, settings, cohort_id, change.delivery, change.raw_body
        )

    outcome = await run_in_transaction(sessionmaker, apply)
    metrics.RECONCILIATION_CHANGES.labels(
        change.kind.value, "already_applied" if outcome is None else outcome.kind.value
    ).inc()
    return Applied(change, outcome, already_applied=outcome is None)


class RunStopped(Exception):
    """The process is stopping: the run ends between two changes, the watermark unmoved, so
    the next run (on any replica) picks up where it stopped."""


class _Rehearsal(Exception):
    """Rolls the dry run's transaction back once it has answered."""


async def _rehearse(
    sessionmaker: SessionMaker, settings: Settings, cohort_id: uuid.UUID, changes: list[Change]
) -> list[Applied]:
    rehearsed: list[Applied] = []
    with contextlib.suppress(_Rehearsal):
        async with sessionmaker() as session, session.begin():
            for change in changes:
                outcome = await apply_reconciled(
                    session, settings, cohort_id, change.delivery, change.raw_body
                )
                rehearsed.append(Applied(change, outcome, already_applied=outcome is None))
            raise _Rehearsal
    return rehearsed


async def _record_failure(
    sessionmaker: SessionMaker,
    cohort_id: uuid.UUID,
    owner: str,
    started: datetime,
    error: Exception,
) -> None:
    rejected = isinstance(error, KeyRejected)
    metrics.RECONCILIATION_RUNS.labels("key_rejected" if rejected else "failed").inc()
    explained = isinstance(error, CalcomApiError | UndecryptableKey | RunStopped)
    # Anything else is this service's own failure: its name here, the rest in the log.
    description = str(error) if explained else f"{type(error).__name__} (see the log)"
    logger.warning(
        "reconciling cohort %s failed: %s",
        cohort_id,
        description,
        exc_info=None if explained else error,
    )

    async def record(session: AsyncSession) -> None:
        connection = await ConnectionRepository(session).release(
            cohort_id, owner, ran_at=started, error=description[:1000]
        )
        if connection is None or not rejected or connection.key_rejected_at is not None:
            return
        connection.key_rejected_at = started
        # The connection's change goes first: the messages go straight to the connection.
        await session.flush()
        outbox = OutboxRepository(session)
        await outbox.insert(
            [
                NewMessage(cohort_id, recipient, MessageKind.CALCOM_KEY_REJECTED, [])
                for recipient in sorted(set(await outbox.admin_emails(cohort_id)))
            ]
        )

    await run_in_transaction(sessionmaker, record)


def _default_since(settings: Settings, connection: CalcomConnection, now: datetime) -> datetime:
    if connection.watermark is not None:
        return connection.watermark - timedelta(seconds=settings.reconcile_overlap_seconds)
    return now - timedelta(hours=settings.reconcile_initial_lookback_hours)


def _watermark(bookings: list[dict[str, Any]]) -> datetime | None:
    moments = []
    for booking in bookings:
        for key in ("updatedAt", "createdAt"):
            value = booking.get(key)
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    moments.append(datetime.fromisoformat(value))
    aware = [m for m in moments if m.tzinfo is not None]
    return max(aware) if aware else None


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Reconciler:
    """Reconciles every connected cohort every `reconcile_interval_seconds`, alongside the
    other replicas: each cohort's lease lets one of them run it at a time."""

    def __init__(self, sessionmaker: SessionMaker, settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.owner = _owner()

    async def run(self, stop: asyncio.Event) -> None:
        async def reconcile_due() -> None:
            with contextlib.suppress(RunStopped):  # `stop` is set: the loop ends
                await self.run_due(stop)

        await run_periodically(
            reconcile_due,
            every=min(self.settings.reconcile_interval_seconds, 30.0),
            stop=stop,
            loop="reconciler",
            what="a reconciliation pass",
        )

    async def run_due(self, stop: asyncio.Event | None = None) -> int:
        """Reconcile the cohorts due now; answers how many this replica ran."""
        interval = timedelta(seconds=self.settings.reconcile_interval_seconds)

        async def due(session: AsyncSession) -> list[uuid.UUID]:
            return await ConnectionRepository(session).due(interval, limit=100)

        ran = 0
        for cohort_id in await run_in_transaction(self.sessionmaker, due):
            if stop is not None and stop.is_set():
                break
            try:
                result = await reconcile_cohort(
                    self.sessionmaker, self.settings, cohort_id, self.owner, stop=stop
                )
            except (UpstreamFailed, Conflict, NotFound):
                continue  # recorded on the connection (or it was removed meanwhile)
            if result is not None:
                ran += 1
        return ran
