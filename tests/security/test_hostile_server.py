"""Hostile traffic against the real server process (issue "Hold the promise under hostile
traffic"): absurd values, idle and slow connections, noise in the logs, smaller points."""

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from scheduling_service.calcom.signature import sign
from tests.calcom_bodies import booking, encode
from tests.conftest import JWT_SECRET
from tests.e2e.server import ServiceProcess, service_env
from tests.faults.harness import Cohort, admin_headers, seed


def start_server(database_url: str, tmp_path: Path, **settings: str) -> ServiceProcess:
    env = service_env(
        database_url, JWT_SECRET=JWT_SECRET, JOURNAL_DIR=str(tmp_path / "journal"), **settings
    )
    server = ServiceProcess(env)
    server.start()
    return server


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    process = start_server(database_url, tmp_path, RUN_DISPATCHER="false")
    yield process
    process.stop()
    process.log.unlink(missing_ok=True)


@pytest.fixture
async def http(server: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def cohort(http: httpx.AsyncClient, database_url: str) -> Cohort:
    engine = create_async_engine(database_url)
    try:
        return await seed(http, engine, applications=1)
    finally:
        await engine.dispose()


async def post_signed(http: httpx.AsyncClient, cohort: Cohort, body: bytes) -> httpx.Response:
    return await http.post(
        f"/webhooks/calcom/{cohort.id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Cal-Signature-256": sign(body, cohort.secret),
        },
    )


def log_lines(server: ServiceProcess) -> list[dict[str, Any]]:
    lines = []
    for line in server.output().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


# Cal.com's format (ISO 8601 with an offset) allows these; Python cannot convert the first
# two to UTC, the third cannot be shown in every time zone, the last two are no offsets.
ABSURD_TIMES = [
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:00:00-05:00",
    "0001-01-01T10:00:00+05:00",
    "2026-05-12T14:00:00+24:00",
    "2026-05-12T14:00:00+99:99",
]


async def test_absurd_times_are_refused_422_and_kept_rejected_with_the_reason(
    server: ServiceProcess, http: httpx.AsyncClient, cohort: Cohort
) -> None:
    answers = []
    for n, start in enumerate(ABSURD_TIMES):
        body = encode(booking(uid=f"absurd-{n}", email=cohort.emails[0], start=start))
        answers.append(await post_signed(http, cohort, body))
    events = await http.get(
        f"/v1/cohorts/{cohort.id}/webhook-events", headers=admin_headers(cohort.org_id)
    )

    assert [a.status_code for a in answers] == [422] * len(ABSURD_TIMES)
    assert {a.json()["type"] for a in answers} == {"urn:scheduling-service:problem:invalid-webhook"}
    kept = events.json()["items"]
    assert [e["outcome"] for e in kept] == ["rejected"] * len(ABSURD_TIMES)
    reasons = sorted(e["reason"] for e in kept)
    assert sum("cannot be converted to UTC" in r for r in reasons) == 2
    assert sum("too close to the year 1 or 9999" in r for r in reasons) == 1
    assert sum("must be an ISO 8601 time with an offset" in r for r in reasons) == 2
    assert all(r.startswith("payload.startTime") for r in reasons)
    assert "Traceback" not in server.output()
