"""Prometheus metrics, served at `/metrics`.

Several uvicorn workers (`serve --workers N`) are separate processes behind one port, so a
scrape reaches one of them at random. `serve` therefore turns on prometheus-client's
multiprocess mode when it starts more than one worker: every worker writes its values to
files in PROMETHEUS_MULTIPROC_DIR and a scrape of any worker answers the sum over all of
them. Separate replicas (containers) are scraped one by one, as usual.

Counters change only once the work they count has committed (`after_commit`), so a rolled
back or retried transaction is never counted.
"""

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, SessionTransaction

from scheduling_service import driver
from scheduling_service.models import MessageState, OutboxMessage

logger = logging.getLogger(__name__)

# Read by prometheus-client when it is imported; `serve` sets it (see cli.py).
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format, which every Prometheus version reads; what `generate_latest` writes.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
SCRAPE_QUERY_SECONDS = 2.0

# The `_created` series doubles every counter's output and no dashboard here uses it.
disable_created_metrics()  # type: ignore[no-untyped-call]

HTTP_REQUESTS = Counter(
    "scheduling_http_requests_total",
    "HTTP requests answered, by route template (never the raw path) and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "scheduling_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer.",
    ["method", "route"],
)
HTTP_CONNECTIONS_TIMED_OUT = Counter(
    "scheduling_http_connections_timed_out_total",
    "Connections closed because a request's head or body did not arrive in time (server.py).",
    ["part"],
)
API_REQUESTS_SHED = Counter(
    "scheduling_api_requests_shed_total",
    "API requests answered 503 at once because the worker was at capacity (admission.py).",
)
WEBHOOK_DELIVERIES = Counter(
    "scheduling_webhook_deliveries_total",
    "Cal.com deliveries received over HTTP, by trigger and outcome.",
    ["trigger", "outcome"],
)
WEBHOOK_PROCESSING = Histogram(
    "scheduling_webhook_processing_seconds",
    "Time to verify, record and apply one Cal.com delivery.",
    ["trigger"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RECONCILIATION_RUNS = Counter(
    "scheduling_reconciliation_runs_total",
    "Reconciliation runs with Cal.com's bookings API, by result (success, failed, "
    "key_rejected); dry runs are not counted.",
    ["result"],
)
RECONCILIATION_CHANGES = Counter(
    "scheduling_reconciliation_changes_total",
    "Changes reconciliation found and applied, by change and outcome (already_applied: the "
    "same change was found before).",
    ["change", "outcome"],
)
ORPHANS_OPENED = Counter(
    "scheduling_orphans_opened_total",
    "Orphaned interviews that became open: new ones, and cancelled ones a reschedule reopened.",
)
ORPHANS_RESOLVED = Counter(
    "scheduling_orphans_resolved_total",
    "Orphaned interviews that stopped being open, by resolution.",
    ["resolution"],
)
OUTBOX_SEND_FAILURES = Counter(
    "scheduling_outbox_send_failures_total",
    "Attempts to send an alert email that failed (each attempt counts once).",
)
DATABASE_OUTAGES = Counter(
    "scheduling_database_outages_total",
    "Times a background loop found the database unreachable after it had been reachable.",
    ["loop"],
)
DATABASE_POOL_CHECKED_OUT = Gauge(
    "scheduling_db_pool_checked_out_connections",
    "Database connections in use now (summed over the live workers).",
    multiprocess_mode="livesum",
)
DATABASE_POOL_SIZE = Gauge(
    "scheduling_db_pool_size",
    "Database connections the pools may hold (summed over the live workers).",
    multiprocess_mode="livesum",
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE)


def forget_this_process() -> None:
    """A worker that stops takes its live gauges (pool use) out of the sums."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def instrument_pool(engine: AsyncEngine, pool_size: int) -> None:
    pool = engine.sync_engine.pool
    DATABASE_POOL_SIZE.inc(pool_size)
    event.listen(pool, "checkout", lambda *_: DATABASE_POOL_CHECKED_OUT.inc())
    event.listen(pool, "checkin", lambda *_: DATABASE_POOL_CHECKED_OUT.dec())


def release_pool(pool_size: int) -> None:
    DATABASE_POOL_SIZE.dec(pool_size)


class _Snapshot(Collector):
    """Metric families computed for one scrape (the outbox depth, read from the database)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def render(scraped: Iterable[Metric]) -> bytes:
    """The Prometheus text of this process (or of all workers) and of `scraped`."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        processes = generate_latest(registry)
    else:
        processes = generate_latest(REGISTRY)
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(scraped))
    return processes + generate_latest(snapshot)


# Counting after commit. In a session, each count remembers the innermost transaction it was
# made in; a rolled-back savepoint drops its counts (and those of savepoints inside it), the
# outermost commit runs the rest. A delivery's own transaction (no savepoints) keeps its
# counts until it commits (`db.DeliveryTransactions`).
_PENDING = "scheduling_service.metrics.pending"
Pending = list[tuple[SessionTransaction, Callable[[], Any]]]


def after_commit(executor: driver.Executor, count: Callable[[], Any]) -> None:
    if isinstance(executor, driver.Transaction):
        executor.on_commit.append(count)
        return
    sync = executor.sync_session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    assert transaction is not None, "counts are made inside a transaction"
    pending: Pending = sync.info.setdefault(_PENDING, [])
    pending.append((transaction, count))


def _within(transaction: SessionTransaction, outer: SessionTransaction) -> bool:
    current: SessionTransaction | None = transaction
    while current is not None:
        if current is outer:
            return True
        current = current.parent
    return False


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    pending: Pending = session.info.pop(_PENDING, [])
    for _, count in pending:
        count()


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: Pending | None = session.info.get(_PENDING)
    if pending:
        pending[:] = [(t, c) for t, c in pending if not _within(t, previous_transaction)]


async def scraped_families(engine: AsyncEngine) -> list[Metric]:
    """What is read from the database at each scrape: the outbox's pending messages, shared
    by every replica (left out when the database does not answer within a second or two)."""
    try:
        async with asyncio.timeout(SCRAPE_QUERY_SECONDS), engine.connect() as connection:
            pending = await connection.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.state == MessageState.PENDING)
            )
    except Exception:  # an unreachable database must not break the scrape of the rest
        logger.debug("outbox depth not scraped", exc_info=True)
        return []
    depth = GaugeMetricFamily(
        "scheduling_outbox_pending_messages",
        "Alert emails waiting in the outbox (all replicas share it).",
        value=pending or 0,
    )
    return [depth]
