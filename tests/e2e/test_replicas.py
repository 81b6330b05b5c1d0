"""Two replicas of the service on one database, as a deployment runs them."""

import asyncio
import subprocess
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from scheduling_service.calcom.signature import sign
from scheduling_service.config import Settings
from scheduling_service.migrations import head_revision
from tests.calcom_bodies import booking, encode
from tests.conftest import JWT_SECRET, Tokens
from tests.operations.scrape import parse, value
from tests.server import BIN, ServiceProcess, service_env

COPIES_PER_REPLICA = 4
APPLICANTS = 3


@pytest.fixture
def replicas(database_url: str) -> Iterator[list[ServiceProcess]]:
    env = service_env(database_url, JWT_SECRET=JWT_SECRET)
    # One replica runs two workers: the worker factory and the shared metrics are exercised.
    servers = [ServiceProcess({**env, "WEB_CONCURRENCY": "2"}), ServiceProcess(env)]
    with ThreadPoolExecutor() as pool:
        list(pool.map(ServiceProcess.start, servers))
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
            server.log.unlink(missing_ok=True)


async def post_all(requests: list[tuple[str, bytes, str]]) -> list[httpx.Response]:
    """Send every (url, body, signature) at once."""
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(
            *(
                client.post(
                    url,
                    content=body,
                    headers={"Content-Type": "application/json", "X-Cal-Signature-256": sig},
                )
                for url, body, sig in requests
            )
        )


def test_concurrent_copies_sent_to_both_replicas_apply_once(
    replicas: list[ServiceProcess], tokens: Tokens
) -> None:
    api = httpx.Client(base_url=replicas[0].base_url, timeout=30)
    system = tokens("system_admin")
    org = api.post(
        "/v1/organizations", json={"name": "Replicas", "admin_emails": ["a@x.org"]}, headers=system
    ).json()
    cohort = api.post(
        f"/v1/organizations/{org['id']}/cohorts", json={"name": "Both"}, headers=system
    ).json()
    admin = tokens("admin", org["id"])
    applications = []
    for number in range(APPLICANTS):
        created = api.post(
            f"/v1/cohorts/{cohort['id']}/applications",
            json={
                "applicant_name": f"Applicant {number}",
                "contact_email": f"applicant-{number}@example.org",
                "status": "waiting_first_round",
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        applications.append(created.json())
    requests = []
    for number in range(APPLICANTS):
        body = encode(booking(uid=f"shared-{number}", email=f"applicant-{number}@example.org"))
        signature = sign(body, cohort["webhook_secret"])
        for server in replicas:
            url = f"{server.base_url}/webhooks/calcom/{cohort['id']}"
            requests += [(url, body, signature)] * COPIES_PER_REPLICA

    answers = asyncio.run(post_all(requests))

    assert {answer.status_code for answer in answers} == {200}
    outcomes = Counter(answer.json()["outcome"] for answer in answers)
    copies = 2 * COPIES_PER_REPLICA
    assert outcomes == {"matched": APPLICANTS, "duplicate": APPLICANTS * (copies - 1)}
    for application in applications:
        seen = api.get(f"/v1/applications/{application['id']}", headers=admin).json()
        assert seen["status"] == "first_round_scheduled"
        history = api.get(f"/v1/applications/{application['id']}/history", headers=admin)
        booked = [e for e in history.json()["items"] if e["cause"] == "webhook"]
        assert len(booked) == 1, booked
    events = api.get(f"/v1/cohorts/{cohort['id']}/webhook-events", headers=admin).json()
    assert len(events["items"]) == APPLICANTS

    # Each replica counts what it answered (the two-worker one over both its workers).
    scraped = [parse(httpx.get(f"{s.base_url}/metrics").text) for s in replicas]
    deliveries = "scheduling_webhook_deliveries_total"
    counted = {
        outcome: sum(
            value(samples, deliveries, trigger="BOOKING_CREATED", outcome=outcome)
            for samples in scraped
        )
        for outcome in ("matched", "duplicate")
    }
    assert counted == outcomes
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    pool_size = defaults.database_pool_size + defaults.database_webhook_pool_size
    assert value(scraped[0], "scheduling_db_pool_size") == 2 * pool_size  # two workers


async def applied_versions(url: str) -> list[Any]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    await engine.dispose()
    return [row[0] for row in rows]


def test_concurrent_migrations_of_a_fresh_database_both_succeed(fresh_database: str) -> None:
    env = service_env(fresh_database)
    command = [str(BIN / "scheduling-service"), "migrate"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]

    results = [(process.wait(timeout=60), process.communicate()[0]) for process in processes]

    assert [code for code, _ in results] == [0, 0], results
    assert asyncio.run(applied_versions(fresh_database)) == [head_revision()]
