"""Reconciling 10,000 bookings with the fake Cal.com API while webhooks keep arriving: how
long the run takes, and the webhooks' latency meanwhile (against the same rate without it)."""

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from bench.load import StepResult, open_loop
from bench.workload import Workload
from scheduling_service.auth import Role, issue_token
from scheduling_service.config import Settings
from tests.fake_calcom_api import API_KEY, FakeCalcomServer

if TYPE_CHECKING:
    from bench.run import Service

BOOKINGS = 10_000
STRANGER_EVERY = 10  # one booking in ten matches no application: an orphan, alerts
MAX_SECONDS = 1800.0  # the longest run waited for; a busy 2-core machine took over 600 s


def _admin_token(jwt_secret: str, organization_id: uuid.UUID) -> str:
    settings = Settings(_env_file=None, jwt_secret=jwt_secret)
    return issue_token(
        settings,
        role=Role.ADMIN,
        organization_id=organization_id,
        subject="bench-operator",
        ttl=timedelta(hours=2),
    )


async def _webhooks_until(
    service: "Service", workload: Workload, rate: float, done: asyncio.Event | None, seconds: float
) -> StepResult:
    from bench.run import webhook_requests

    events = workload.batch(max(1, int(rate * (MAX_SECONDS if done else seconds))))
    client = service.client()
    started = time.monotonic()
    try:
        return await open_loop(
            client,
            webhook_requests(workload.cohort, events),
            rate,
            stop=lambda: done.is_set() if done else time.monotonic() - started > seconds,
        )
    finally:
        await client.close()
        workload.settle()


async def reconcile_under_load(
    service: "Service", workload: Workload, rate: float, bookings: int = BOOKINGS
) -> dict[str, Any]:
    cohort = workload.cohort
    headers = {
        "Authorization": f"Bearer {_admin_token(service.jwt_secret, cohort.organization_id)}"
    }
    with FakeCalcomServer() as fake:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
        for n in range(1, bookings + 1):
            email = (
                f"walkin.recon{n}@elsewhere.example"
                if n % STRANGER_EVERY == 0
                else cohort.email(n % cohort.applications + 1)
            )
            fake.calcom.create(email, f"Booker {n}", start + timedelta(minutes=n))
        async with httpx.AsyncClient(base_url=service.process.base_url, timeout=MAX_SECONDS) as api:
            connected = await api.put(
                f"/v1/cohorts/{cohort.id}/calcom-connection",
                json={"api_key": API_KEY, "base_url": fake.base_url},
                headers=headers,
            )
            connected.raise_for_status()
            quiet = await _webhooks_until(service, workload, rate, None, 10.0)
            # This machine may be shared: the load beside each figure says how busy it was.
            load_before = os.getloadavg()[0]
            done = asyncio.Event()
            load = asyncio.create_task(_webhooks_until(service, workload, rate, done, 0.0))
            began = time.perf_counter()
            try:
                answer = await api.post(
                    f"/v1/cohorts/{cohort.id}/reconcile",
                    json={"since": "2020-01-01T00:00:00Z"},
                    headers=headers,
                )
            finally:
                seconds = time.perf_counter() - began
                load_after = os.getloadavg()[0]
                done.set()
            during = await load
            answer.raise_for_status()
    changes = answer.json()["changes"]
    return {
        "bookings": bookings,
        "changes_applied": sum(1 for c in changes if not c["already_applied"]),
        "seconds": round(seconds, 1),
        "bookings_per_s": round(bookings / seconds),
        "fake_calcom_requests": len(fake.calcom.requests),
        "webhook_rate_per_s": rate,
        "webhooks_without": quiet.summary(),
        "webhooks_during": during.summary(),
        "load_average_1min": {"before": load_before, "after": load_after},
    }
