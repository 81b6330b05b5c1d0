"""The background loop that finishes what intake could not: it drains the journal once the
database is back, and retries failed events whose backoff has passed."""

import asyncio
import logging

from scheduling_service.db import is_database_unavailable
from scheduling_service.errors import InvalidSignature, NotFound, Unavailable
from scheduling_service.periodic import run_periodically
from scheduling_service.webhooks.journal import JournalEntry
from scheduling_service.webhooks.service import (
    Intake,
    ingest,
    keep_unapplied,
    retry_due_failures,
)

logger = logging.getLogger(__name__)

RETRIES_PER_PASS = 50


class Recovery:
    def __init__(self, intake: Intake) -> None:
        assert intake.journal is not None, "recovery drains the intake's journal"
        self.journal = intake.journal
        # While draining, a database outage must stop the drain, not journal the entry again.
        self.draining = Intake(
            intake.transactions,
            intake.sessionmaker,
            intake.settings,
            journal=None,
            secrets=intake.secrets,
        )

    async def run(self, stop: asyncio.Event) -> None:
        await run_periodically(
            self.recover_once,
            every=self.draining.settings.recovery_poll_seconds,
            stop=stop,
            loop="recovery",
            what="a recovery pass",
        )

    async def recover_once(self) -> tuple[int, int]:
        """Answers how many journal entries were applied and failed events retried."""
        drained = await self.journal.drain(self._apply) if self.journal.has_entries() else 0
        retried = await retry_due_failures(
            self.draining.sessionmaker, self.draining.settings, RETRIES_PER_PASS
        )
        if drained or retried:
            logger.info("recovered %d journaled deliveries, retried %d events", drained, retried)
        return drained, retried

    async def _apply(self, entry: JournalEntry) -> None:
        try:
            await ingest(self.draining, entry.cohort_id, entry.body, entry.signature)
        except (NotFound, InvalidSignature) as refused:
            # Verified when journaled; refused now only if its cohort's secrets changed since.
            logger.warning("journaled delivery refused: %s", refused.detail)
        except Unavailable:
            raise  # the database went away again: the entry waits for the next drain
        except Exception as error:
            if is_database_unavailable(error):
                raise
            # Whatever else it raises, it must not hold up the entries behind it.
            await self._set_aside(entry, error)

    async def _set_aside(self, entry: JournalEntry, error: Exception) -> None:
        logger.error(
            "a journaled delivery could not be applied; it is kept as failed", exc_info=error
        )
        try:
            await keep_unapplied(self.draining, entry.cohort_id, entry.body, error)
        except Exception as keeping:
            if is_database_unavailable(keeping):
                raise
            logger.error("keeping it failed too; it is set aside in the journal", exc_info=keeping)
            await self.journal.set_aside(entry.encode())
