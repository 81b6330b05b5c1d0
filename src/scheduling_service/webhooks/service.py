"""Ingesting Cal.com deliveries without ever losing one.

Each delivery is verified, recorded and applied in one transaction (see `applier.py`). Cal.com
never retries, so nothing authentic is dropped: a delivery whose effects fail is kept as a
`failed` event and retried with backoff (or replayed by an admin); one that arrives while the
database is unreachable is appended to the local journal and applied when it is back.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service import driver
from scheduling_service.auth import Principal
from scheduling_service.backoff import exponential_backoff
from scheduling_service.calcom import delivery as calcom
from scheduling_service.config import Settings
from scheduling_service.db import (
    DeliveryTransactions,
    SessionMaker,
    is_database_unavailable,
    run_in_transaction,
)
from scheduling_service.errors import DomainError, NotFound, Unavailable
from scheduling_service.models import EventSource, HistoryCause, WebhookEvent, WebhookOutcome
from scheduling_service.organizations.secrets import CohortSecretCache
from scheduling_service.tenancy import get_cohort_as_admin
from scheduling_service.webhooks import telemetry
from scheduling_service.webhooks.applier import BookingApplier, Outcome
from scheduling_service.webhooks.journal import Journal, JournalEntry, JournalFull
from scheduling_service.webhooks.repository import WebhookEventRepository

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intake:
    """Where deliveries go: the database (each in a transaction of its own, `transactions`;
    failed ones are retried in sessions of the same pool), and the journal for when it is
    unreachable (None while the journal itself is being drained); `secrets` verifies them
    first."""

    transactions: DeliveryTransactions
    sessionmaker: SessionMaker
    settings: Settings
    journal: Journal | None
    secrets: CohortSecretCache


@dataclass(frozen=True)
class IngestResult:
    event_id: str
    outcome: Outcome
    rejection: calcom.MalformedDelivery | None = None
    """Set when an authentic delivery was refused; it is in the event log as `rejected`."""
    queued: bool = False
    """The database was unreachable: the delivery is in the journal, to be applied later."""
    trigger: str | None = None
    """`triggerEvent`, when the body has one."""


async def admit(intake: Intake, cohort_id: uuid.UUID) -> None:
    """Refuse a delivery to an unknown cohort before its body is read (counted and logged
    like any refused delivery)."""
    started = time.perf_counter()
    try:
        await intake.secrets.lookup(cohort_id)
    except DomainError as error:
        telemetry.refused(cohort_id, error, time.perf_counter() - started)
        raise


async def receive(
    intake: Intake, cohort_id: uuid.UUID, body: bytes, signature: str | None
) -> IngestResult:
    """A delivery arriving over HTTP: ingested, then counted, timed and logged in one line.
    (Journal drains and retries call `ingest` alone: they are not new deliveries.)"""
    started = time.perf_counter()
    try:
        result = await ingest(intake, cohort_id, body, signature)
    except Exception as error:
        telemetry.refused(cohort_id, error, time.perf_counter() - started)
        raise
    outcome = "queued" if result.queued else result.outcome.kind.value
    telemetry.delivered(
        cohort_id, result.event_id, result.trigger, outcome, time.perf_counter() - started
    )
    return result


async def ingest(
    intake: Intake, cohort_id: uuid.UUID, body: bytes, signature: str | None
) -> IngestResult:
    """Verify, then record and apply the delivery; only a verified one is ever stored or
    journaled (NotFound, InvalidSignature or Unavailable otherwise)."""
    await intake.secrets.verify(cohort_id, body, signature)

    async def apply(transaction: driver.Transaction) -> IngestResult:
        return await _ingest(transaction, intake.settings, cohort_id, body)

    try:
        return await intake.transactions.run(apply)
    except DomainError:
        raise
    except Exception as error:
        if is_database_unavailable(error):
            return await _queue(intake, cohort_id, body, signature, error)
        failure = error
    logger.error("applying a delivery failed; it is kept to be retried", exc_info=failure)

    async def keep(transaction: driver.Transaction) -> IngestResult:
        return await _keep_failed(transaction, intake.settings, cohort_id, body, failure)

    try:
        return await intake.transactions.run(keep)
    except Exception as error:
        if is_database_unavailable(error):
            return await _queue(intake, cohort_id, body, signature, error)
        raise


async def _ingest(
    executor: driver.Executor, settings: Settings, cohort_id: uuid.UUID, body: bytes
) -> IngestResult:
    events = WebhookEventRepository(executor)
    try:
        delivery = calcom.parse_delivery(body)
    except calcom.MalformedDelivery as rejection:
        await events.insert_if_new(
            cohort_id=cohort_id,
            event_id=rejection.event_id,
            trigger=rejection.trigger,
            raw_body=body,
            outcome=WebhookOutcome.REJECTED,
            reason=rejection.reason,
        )
        return IngestResult(
            rejection.event_id,
            Outcome(WebhookOutcome.REJECTED),
            rejection,
            trigger=rejection.trigger,
        )
    if delivery.trigger == calcom.Trigger.PING:
        return IngestResult(
            delivery.event_id, Outcome(WebhookOutcome.IGNORED), trigger=delivery.trigger
        )
    row_id = await events.insert_if_new(
        cohort_id=cohort_id,
        event_id=delivery.event_id,
        trigger=delivery.trigger,
        raw_body=body,
        outcome=WebhookOutcome.PENDING if delivery.acted_on else WebhookOutcome.IGNORED,
        lock_timeout_ms=settings.webhook_lock_timeout_ms if delivery.acted_on else None,
    )
    if row_id is None:
        return IngestResult(
            delivery.event_id, Outcome(WebhookOutcome.DUPLICATE), trigger=delivery.trigger
        )
    if not delivery.acted_on:
        return IngestResult(
            delivery.event_id, Outcome(WebhookOutcome.IGNORED), trigger=delivery.trigger
        )
    # Storing the event set the lock timeout (see `_apply`).
    outcome = await _apply(executor, settings, cohort_id, delivery, row_id, lock_timeout_set=True)
    return IngestResult(delivery.event_id, outcome, trigger=delivery.trigger)


async def _apply(
    executor: driver.Executor,
    settings: Settings,
    cohort_id: uuid.UUID,
    delivery: calcom.Delivery,
    row_id: uuid.UUID,
    *,
    lock_timeout_set: bool = False,
    cause: HistoryCause = HistoryCause.WEBHOOK,
) -> Outcome:
    """Apply a recorded booking event and record its outcome, in the caller's transaction."""
    assert delivery.acted_on
    # A row lock held too long fails this event (kept and retried) instead of stalling intake.
    if not lock_timeout_set:
        await WebhookEventRepository(executor).set_lock_timeout(settings.webhook_lock_timeout_ms)
    applier = BookingApplier(executor, settings, cohort_id, delivery.event_id, row_id, cause)
    if delivery.no_show is not None:
        return await applier.apply_no_show(delivery.no_show)
    assert delivery.booking is not None
    return await applier.apply(calcom.Trigger(delivery.trigger), delivery.booking)


async def apply_reconciled(
    executor: driver.Executor,
    settings: Settings,
    cohort_id: uuid.UUID,
    delivery: calcom.Delivery,
    raw_body: bytes,
) -> Outcome | None:
    """Record and apply a change that reconciliation found, exactly as the delivery Cal.com
    would have sent for it, in the caller's transaction; None when its event ID is stored
    already (the same change found before)."""
    assert delivery.booking is not None
    row_id = await WebhookEventRepository(executor).insert_if_new(
        cohort_id=cohort_id,
        event_id=delivery.event_id,
        trigger=delivery.trigger,
        raw_body=raw_body,
        outcome=WebhookOutcome.PENDING,
        lock_timeout_ms=settings.webhook_lock_timeout_ms,
        source=EventSource.RECONCILIATION,
    )
    if row_id is None:
        return None
    return await _apply(
        executor,
        settings,
        cohort_id,
        delivery,
        row_id,
        lock_timeout_set=True,
        cause=HistoryCause.RECONCILIATION,
    )


async def _keep_failed(
    executor: driver.Executor,
    settings: Settings,
    cohort_id: uuid.UUID,
    body: bytes,
    error: Exception,
) -> IngestResult:
    event_id, trigger = _identify(body)
    row_id = await WebhookEventRepository(executor).insert_if_new(
        cohort_id=cohort_id,
        event_id=event_id,
        trigger=trigger,
        raw_body=body,
        outcome=WebhookOutcome.FAILED,
        reason=_describe(error),
        attempts=1,
        next_attempt_at=datetime.now(UTC) + _backoff(settings, 1),
    )
    # A concurrent copy may have been stored meanwhile, applied or failed: this one is a copy.
    outcome = WebhookOutcome.FAILED if row_id else WebhookOutcome.DUPLICATE
    return IngestResult(event_id, Outcome(outcome), trigger=trigger)


def _identify(body: bytes) -> tuple[str, str | None]:
    """The event ID and trigger of a verified body, whatever its content: a body that breaks
    the parser is still kept, under the hash of its bytes."""
    try:
        parsed = calcom.parse_delivery(body)
    except calcom.MalformedDelivery as malformed:
        return malformed.event_id, malformed.trigger
    except Exception:
        return calcom.event_id_for(body, None, None, None), None
    return parsed.event_id, parsed.trigger


async def _queue(
    intake: Intake,
    cohort_id: uuid.UUID,
    body: bytes,
    signature: str | None,
    error: Exception,
) -> IngestResult:
    if intake.journal is None:
        raise error
    try:
        await intake.journal.append(JournalEntry(cohort_id, body, signature))
    except JournalFull as full:
        raise Unavailable(str(full)) from None
    logger.warning("database unreachable: delivery kept in the journal (%s)", type(error).__name__)
    event_id, trigger = _identify(body)
    return IngestResult(event_id, Outcome(WebhookOutcome.PENDING), queued=True, trigger=trigger)


async def retry_due_failures(sessionmaker: SessionMaker, settings: Settings, limit: int) -> int:
    """Retry failed events whose backoff has passed, one transaction each; answers how many."""

    async def retry_one(session: AsyncSession) -> bool:
        event = await WebhookEventRepository(session).claim_due_failure()
        if event is None:
            return False
        await _reapply(session, settings, event)
        return True

    retried = 0
    while retried < limit and await run_in_transaction(sessionmaker, retry_one):
        retried += 1
    return retried


async def replay_event(
    session: AsyncSession, principal: Principal, settings: Settings, event_id: uuid.UUID
) -> WebhookEvent:
    """Apply a failed event again, now; any other event is answered as it is (idempotent)."""
    events = WebhookEventRepository(session)
    event = await events.get(event_id, for_update=True)
    if event is None:
        raise NotFound("webhook event not found")
    await get_cohort_as_admin(session, principal, event.cohort_id, "webhook event")
    if event.outcome is WebhookOutcome.FAILED:
        await _reapply(session, settings, event)
    refreshed = await events.get(event_id)
    assert refreshed is not None
    return refreshed


async def keep_unapplied(
    intake: Intake, cohort_id: uuid.UUID, body: bytes, error: Exception
) -> IngestResult:
    """Keep a verified delivery that could not be applied as a `failed` event, in a
    transaction of its own: it is retried like any failed event, and replayable."""

    async def keep(transaction: driver.Transaction) -> IngestResult:
        return await _keep_failed(transaction, intake.settings, cohort_id, body, error)

    return await intake.transactions.run(keep)


async def _reapply(session: AsyncSession, settings: Settings, event: WebhookEvent) -> None:
    try:
        async with session.begin_nested():
            delivery = calcom.parse_delivery(event.raw_body)
            if delivery.booking is None:
                raise calcom.MalformedDelivery(
                    "not a booking event",
                    event_id=event.event_id,
                    trigger=delivery.trigger,
                    not_json=False,
                )
            await _apply(session, settings, event.cohort_id, delivery, event.id)
    except calcom.MalformedDelivery as rejection:
        # Kept as failed before the parser refused such bodies: it never will apply.
        event = await WebhookEventRepository(session).get(event.id, for_update=True) or event
        event.outcome = WebhookOutcome.REJECTED
        event.reason = rejection.reason
        event.next_attempt_at = None
        await session.flush()
    except Exception as error:
        if is_database_unavailable(error):
            raise
        logger.warning("retrying event %s failed again", event.id, exc_info=error)
        # Re-read: the rolled-back savepoint may have left the loaded row stale.
        event = await WebhookEventRepository(session).get(event.id, for_update=True) or event
        event.attempts += 1
        event.reason = _describe(error)
        exhausted = event.attempts >= settings.webhook_retry_max_attempts
        event.next_attempt_at = (
            None if exhausted else datetime.now(UTC) + _backoff(settings, event.attempts)
        )
        await session.flush()


def _backoff(settings: Settings, attempts: int) -> timedelta:
    return exponential_backoff(
        attempts,
        base_seconds=settings.webhook_retry_base_seconds,
        max_seconds=settings.webhook_retry_max_seconds,
    )


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:1000]


async def list_events(
    session: AsyncSession,
    principal: Principal,
    cohort_id: uuid.UUID,
    outcome: WebhookOutcome | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[WebhookEvent], str | None]:
    cohort = await get_cohort_as_admin(session, principal, cohort_id)
    return await WebhookEventRepository(session).list(cohort.id, outcome, cursor, limit)
