"""Each cohort's webhook secrets, kept in memory: the one place a delivery is verified.

A delivery is checked against this cache before anything is written, so only authentic ones
reach the database or, while it is unreachable, the journal. Keeping it in memory also
spares the hot path a query.

Freshness, across replicas: every `WEBHOOK_SECRETS_REFRESH_SECONDS` the whole table is read
again, so a rotation (or a retired previous secret) made on any replica is honoured on every
replica within that time. A signature that matches none of a cohort's cached secrets makes
the cohort's row be read again, at most once a second per cohort, so a delivery signed with
a secret rotated a moment ago is not refused while a flood of forged ones costs next to
nothing. A cohort not in the cache (created since the last refresh, or not existing) is
looked up; while the database is unreachable it is refused with 503 without trying.
"""

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from scheduling_service.calcom.signature import mismatch_detail, signature_matches
from scheduling_service.db import SessionMaker, is_database_unavailable, run_in_transaction
from scheduling_service.errors import InvalidSignature, NotFound, Unavailable
from scheduling_service.organizations.repository import CohortRepository, CohortSecrets
from scheduling_service.outages import OutageLog
from scheduling_service.periodic import stopped_within

# A cohort whose cached secrets a signature did not match is read again at most this often.
REFETCH_AFTER_MISMATCH_SECONDS = 1.0


class CohortSecretCache:
    def __init__(self, sessionmaker: SessionMaker, refresh_seconds: float) -> None:
        self.sessionmaker = sessionmaker
        self.refresh_seconds = refresh_seconds
        self._cohorts: dict[uuid.UUID, CohortSecrets] = {}
        self._fetched_at: dict[uuid.UUID, float] = {}
        self._outage = OutageLog("webhook secrets")

    @property
    def database_down(self) -> bool:
        return self._outage.down

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh the whole cache every `refresh_seconds` until `stop` is set."""
        # Not `run_periodically`: the cache was filled at start, and `refresh` tells its own
        # outages, since `lookup` asks whether the database is down.
        while not await stopped_within(stop, self.refresh_seconds):
            await self.refresh()

    async def refresh(self) -> None:
        """Read every cohort's secrets; on failure the cache keeps what it had."""

        async def read(session: AsyncSession) -> list[CohortSecrets]:
            return await CohortRepository(session).all_secrets()

        started = time.monotonic()
        try:
            cohorts = await run_in_transaction(self.sessionmaker, read)
        except Exception as error:
            self._outage.failed(error, "refreshing the webhook secrets")
            return
        self._outage.succeeded()
        self._cohorts = {cohort.id: cohort for cohort in cohorts}
        self._fetched_at = dict.fromkeys(self._cohorts, started)

    async def lookup(self, cohort_id: uuid.UUID) -> CohortSecrets:
        """The cohort's secrets: NotFound when it does not exist, Unavailable when that
        cannot be told now."""
        cohort = self._cohorts.get(cohort_id)
        if cohort is not None:
            return cohort
        if self.database_down:
            raise Unavailable("the cohort cannot be verified while the database is unreachable")
        cohort = await self._fetch(cohort_id)
        if cohort is None:
            raise NotFound("cohort not found")
        return cohort

    async def verify(
        self, cohort_id: uuid.UUID, body: bytes, signature: str | None
    ) -> CohortSecrets:
        """The cohort, when `signature` is one of its accepted secrets' over `body`."""
        cohort = await self.lookup(cohort_id)
        if self._matches(cohort, body, signature):
            return cohort
        age = time.monotonic() - self._fetched_at.get(cohort_id, 0.0)
        if not self.database_down and age > REFETCH_AFTER_MISMATCH_SECONDS:
            # Perhaps rotated on another replica since the last refresh.
            with contextlib.suppress(Unavailable):
                fresh = await self._fetch(cohort_id)
                if fresh is not None and self._matches(fresh, body, signature):
                    return fresh
        raise InvalidSignature(mismatch_detail(signature))

    async def _fetch(self, cohort_id: uuid.UUID) -> CohortSecrets | None:
        async def read(session: AsyncSession) -> CohortSecrets | None:
            return await CohortRepository(session).secrets(cohort_id)

        started = time.monotonic()
        try:
            cohort = await run_in_transaction(self.sessionmaker, read)
        except Exception as error:
            if is_database_unavailable(error):
                raise Unavailable(
                    "the cohort cannot be verified while the database is unreachable"
                ) from None
            raise
        if cohort is not None:
            self._cohorts[cohort_id] = cohort
            self._fetched_at[cohort_id] = started
        return cohort

    @staticmethod
    def _matches(cohort: CohortSecrets, body: bytes, signature: str | None) -> bool:
        return signature_matches(body, signature, accepted_secrets(cohort, datetime.now(UTC)))


def accepted_secrets(cohort: CohortSecrets, now: datetime) -> list[str]:
    """The secrets a delivery may be signed with: the current one, and the previous one
    while its grace period lasts."""
    accepted = [cohort.webhook_secret]
    expires = cohort.previous_secret_expires_at
    if cohort.previous_webhook_secret and expires is not None and now < expires:
        accepted.append(cohort.previous_webhook_secret)
    return accepted
