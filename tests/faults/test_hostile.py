"""Hostile traffic during a database outage (issue "Hold the promise under hostile traffic"):
forged posts cannot fill the journal, and no entry can wedge its drain."""

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduling_service.calcom.signature import sign
from tests.calcom_bodies import booking, encode
from tests.faults.harness import (
    Cohort,
    FaultPostgres,
    admin_headers,
    post_signed,
    seed,
    send_burst,
    wait_until_applied,
)
from tests.operations.scrape import lines_of, parse, value
from tests.server import ServiceProcess, pipelined, start_service

FORGED_POSTS = 10_000


def raw_post(path: str, body: bytes, signature: str | None) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
    if signature is not None:
        head += f"X-Cal-Signature-256: {signature}\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


async def ping(http: httpx.AsyncClient, cohort: Cohort) -> None:
    """Cal.com's test ping when the webhook is set up: the service knows the cohort before
    the outage (its secrets cache reads every cohort every few seconds anyway)."""
    body = encode({"triggerEvent": "PING", "createdAt": "2026-05-04T09:00:00Z", "payload": {}})
    pinged = await http.post(
        f"/webhooks/calcom/{cohort.id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Cal-Signature-256": sign(body, cohort.secret),
        },
    )
    assert pinged.json()["outcome"] == "ignored"


def journal_lines(journal: Path) -> int:
    return sum(path.read_bytes().count(b"\n") for path in journal.glob("*.jsonl"))


async def test_forged_posts_during_an_outage_never_reach_the_journal(
    service: ServiceProcess,
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    postgres: FaultPostgres,
    tmp_path: Path,
) -> None:
    cohort = await seed(http, engine, applications=1)
    signed = encode(booking(uid="real", email=cohort.emails[0]))
    forged = encode(booking(uid="forged", email=cohort.emails[0]))
    await ping(http, cohort)
    await asyncio.to_thread(postgres.stop)

    requests = []
    for n in range(FORGED_POSTS):
        # Half to the real cohort with a wrong signature, half unsigned to random cohorts.
        if n % 2:
            target, signature = cohort.id, sign(forged, "not-the-secret")
        else:
            target, signature = str(uuid.uuid4()), None
        requests.append(raw_post(f"/webhooks/calcom/{target}", forged, signature))
    started = time.monotonic()
    answers = await pipelined(service.port, requests, connections=10)
    forging_seconds = time.monotonic() - started
    real = await http.post(
        f"/webhooks/calcom/{cohort.id}",
        content=signed,
        headers={
            "Content-Type": "application/json",
            "X-Cal-Signature-256": sign(signed, cohort.secret),
        },
    )
    print(f"{FORGED_POSTS} forged posts in {forging_seconds:.1f}s: {dict(answers)}")

    # The forged posts to the real cohort fail their signature; the random cohorts cannot
    # be told from deleted ones while the database is down.
    assert answers == {401: FORGED_POSTS // 2, 503: FORGED_POSTS // 2}
    assert (real.status_code, real.json()["outcome"]) == (202, "queued")
    assert journal_lines(tmp_path / "journal") == 1

    await asyncio.to_thread(postgres.start)

    await wait_until_applied(engine, cohort, 1, 30, "the signed delivery applied after recovery")
    assert journal_lines(tmp_path / "journal") == 0


OVERFLOWING_TIME = "0001-01-01T00:00:00+05:00"


async def test_an_entry_that_cannot_be_applied_does_not_hold_up_the_drain(
    service: ServiceProcess,
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    postgres: FaultPostgres,
    tmp_path: Path,
) -> None:
    cohort = await seed(http, engine, applications=3)
    bad = encode(booking(uid="bad", email="stranger@faults.example", start=OVERFLOWING_TIME))
    good = [encode(booking(uid=f"good-{n}", email=email)) for n, email in enumerate(cohort.emails)]
    await ping(http, cohort)
    await asyncio.to_thread(postgres.stop)

    burst = await send_burst(service.base_url, cohort, [bad, *good], concurrency=1)
    assert (burst.answers, burst.outcomes) == ({202: 4}, {"queued": 4})
    await asyncio.to_thread(postgres.start)

    await wait_until_applied(
        engine, cohort, 3, 30, "every good delivery behind the bad one applied"
    )
    events = await http.get(
        f"/v1/cohorts/{cohort.id}/webhook-events", headers=admin_headers(cohort.org_id)
    )
    [kept] = [e for e in events.json()["items"] if e["body"].encode() == bad]
    assert kept["outcome"] == "rejected"
    assert "payload.startTime" in kept["reason"]
    assert journal_lines(tmp_path / "journal") == 0


LOOPS = ("webhook secrets", "recovery", "dispatcher")


async def test_an_outage_is_one_line_per_loop_each_way_and_a_counter(
    database_url: str, engine: AsyncEngine, postgres: FaultPostgres, tmp_path: Path
) -> None:
    quick = "0.2"
    server = start_service(
        database_url,
        tmp_path,
        RECOVERY_POLL_SECONDS=quick,
        DISPATCHER_POLL_SECONDS=quick,
        WEBHOOK_SECRETS_REFRESH_SECONDS=quick,
    )
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            cohort = await seed(http, engine, applications=1)
            await ping(http, cohort)
            await asyncio.to_thread(postgres.stop)
            answers: Counter[int] = Counter()
            # Five seconds of an outage: the loops poll 25 times each, the API is asked.
            for _ in range(25):
                listed = await http.get(
                    f"/v1/cohorts/{cohort.id}/webhook-events",
                    headers=admin_headers(cohort.org_id),
                )
                answers[listed.status_code] += 1
                await asyncio.sleep(0.2)
            body = encode(booking(uid="during", email=cohort.emails[0]))
            queued = await post_signed(http, cohort, body)
            await asyncio.to_thread(postgres.start)

            await wait_until_applied(engine, cohort, 1, 30, "the journaled delivery applied")
            await asyncio.sleep(1)  # every loop has passed once more
            scraped = parse((await http.get("/metrics")).text)
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    outages = lines_of(lines, "scheduling_service.outages")

    assert answers == {503: 25}
    assert queued.json()["outcome"] == "queued"
    for loop in LOOPS:
        said = [line["message"] for line in outages if line["loop"] == loop]
        assert said == ["database unreachable", "database reachable again"], loop
        assert value(scraped, "scheduling_database_outages_total", loop=loop) == 1
    assert [line for line in lines if "exception" in line] == []
    assert "Traceback" not in server.output()
