"""Every acknowledged delivery is applied exactly once, whatever fails (issue "Never lose a
Cal.com event"). The real server process, a PostgreSQL this suite stops and starts, bounded
bursts on loopback; the database is read back afterwards."""

import asyncio

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.faults.harness import (
    NO_ANSWER,
    FaultPostgres,
    admin_headers,
    creations,
    email_of,
    seed,
    send_burst,
    wait_until_applied,
    webhook_history_per_application,
    with_duplicates,
)
from tests.server import ServiceProcess


async def test_fifty_concurrent_copies_apply_once(
    service: ServiceProcess, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    cohort = await seed(http, engine, applications=1)
    [body] = creations(cohort)

    burst = await send_burst(service.base_url, cohort, [body] * 50, concurrency=50)

    history = await webhook_history_per_application(engine, cohort)
    burst.summary("50 concurrent copies", sum(history.values()))
    assert burst.answers == {200: 50}
    assert burst.outcomes == {"matched": 1, "duplicate": 49}
    assert history == {cohort.emails[0]: 1}


async def test_five_hundred_deliveries_with_duplicates_apply_once_each(
    service: ServiceProcess, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    cohort = await seed(http, engine, applications=500)
    bodies = with_duplicates(creations(cohort), share=0.2)

    burst = await send_burst(service.base_url, cohort, bodies, concurrency=40)

    history = await webhook_history_per_application(engine, cohort)
    burst.summary("500 distinct + 20% duplicates", sum(history.values()))
    assert burst.answers == {200: 600}
    assert burst.outcomes == {"matched": 500, "duplicate": 100}
    assert set(history.values()) == {1}


async def test_database_stopped_mid_burst_loses_nothing(
    service: ServiceProcess,
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    postgres: FaultPostgres,
) -> None:
    cohort = await seed(http, engine, applications=200)

    async def outage(sent: int) -> None:
        if sent == 60:
            await asyncio.to_thread(postgres.stop)
        if sent == 140:
            await asyncio.to_thread(postgres.start)

    burst = await send_burst(
        service.base_url, cohort, creations(cohort), concurrency=5, after_each=outage
    )
    assert burst.acknowledged == 200, burst.answers
    assert burst.outcomes["queued"] > 0

    await wait_until_applied(engine, cohort, 200, 60, "every journaled delivery applied")
    history = await webhook_history_per_application(engine, cohort)
    burst.summary("PostgreSQL stopped mid-burst", sum(history.values()))
    assert set(history.values()) == {1}
    ready = await http.get("/readyz")
    assert ready.status_code == 200


async def test_server_killed_mid_burst_applies_every_acknowledged_delivery(
    service: ServiceProcess, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    cohort = await seed(http, engine, applications=200)

    async def crash(sent: int) -> None:
        if sent == 80:
            await asyncio.to_thread(service.kill)
        if sent == 120:
            await asyncio.to_thread(service.start)

    burst = await send_burst(
        service.base_url, cohort, creations(cohort), concurrency=5, after_each=crash
    )
    assert burst.answers[NO_ANSWER] > 0, "the kill should have cost some deliveries an answer"

    history = await webhook_history_per_application(engine, cohort)
    burst.summary("server SIGKILLed mid-burst", sum(history.values()))
    acknowledged = {email_of(body) for body in burst.acknowledged_bodies}
    assert all(history[email] == 1 for email in acknowledged)
    assert set(history.values()) <= {0, 1}


async def test_injected_fault_ends_failed_then_replay_applies_it(
    service: ServiceProcess, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    cohort = await seed(http, engine, applications=1)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'injected fault'; END $$"
            )
        )
        await connection.execute(
            text(
                "CREATE TRIGGER fail BEFORE INSERT ON history_entries"
                " FOR EACH ROW EXECUTE FUNCTION fail()"
            )
        )
    burst = await send_burst(service.base_url, cohort, creations(cohort), concurrency=1)
    assert (burst.answers, burst.outcomes) == ({202: 1}, {"failed": 1})
    headers = admin_headers(cohort.org_id)
    listed = await http.get(
        f"/v1/cohorts/{cohort.id}/webhook-events", params={"outcome": "failed"}, headers=headers
    )
    [failed] = listed.json()["items"]

    async with engine.begin() as connection:
        await connection.execute(text("DROP TRIGGER fail ON history_entries"))
    replayed = await http.post(f"/v1/webhook-events/{failed['id']}/replay", headers=headers)

    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["outcome"] == "matched"
    history = await webhook_history_per_application(engine, cohort)
    burst.summary("injected fault, then replay", sum(history.values()))
    assert history == {cohort.emails[0]: 1}


async def test_sigterm_finishes_and_exits_cleanly(
    service: ServiceProcess, http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    cohort = await seed(http, engine, applications=100)

    async def terminate(sent: int) -> None:
        if sent == 50:
            await asyncio.to_thread(service.stop)

    burst = await send_burst(
        service.base_url, cohort, creations(cohort), concurrency=5, after_each=terminate
    )

    # Uvicorn shuts down gracefully, then re-raises the signal, so the exit code says SIGTERM.
    assert "Application shutdown complete" in service.output()
    history = await webhook_history_per_application(engine, cohort)
    burst.summary("SIGTERM mid-burst", sum(history.values()))
    acknowledged = {email_of(body) for body in burst.acknowledged_bodies}
    assert acknowledged
    assert all(history[email] == 1 for email in acknowledged)
    assert sum(history.values()) == len(acknowledged)
