"""Hostile traffic against the real server process (issue "Hold the promise under hostile
traffic"): absurd values, idle and slow connections, noise in the logs, smaller points."""

import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from tests.calcom_bodies import booking, encode
from tests.conftest import JWT_SECRET
from tests.faults.harness import Cohort, admin_headers, post_signed, seed
from tests.operations.scrape import parse
from tests.server import ServiceProcess, start_service


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    with start_service(database_url, tmp_path, RUN_DISPATCHER="false") as process:
        yield process


@pytest.fixture
async def http(server: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client


@pytest.fixture
async def seeded(http: httpx.AsyncClient, database_url: str) -> Cohort:
    engine = create_async_engine(database_url)
    try:
        return await seed(http, engine, applications=1)
    finally:
        await engine.dispose()


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
    server: ServiceProcess, http: httpx.AsyncClient, seeded: Cohort
) -> None:
    answers = []
    for n, start in enumerate(ABSURD_TIMES):
        body = encode(booking(uid=f"absurd-{n}", email=seeded.emails[0], start=start))
        answers.append(await post_signed(http, seeded, body))
    events = await http.get(
        f"/v1/cohorts/{seeded.id}/webhook-events", headers=admin_headers(seeded.org_id)
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


HELD_SOCKETS = 1000
HOLD_SECONDS = 20.0
HEAD_TIMEOUT = 5.0


async def test_a_thousand_unfinished_heads_do_not_shut_anyone_out(
    database_url: str, tmp_path: Path
) -> None:
    server = start_service(
        database_url,
        tmp_path,
        RUN_DISPATCHER="false",
        SERVER_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT),
    )
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            engine = create_async_engine(database_url)
            cohort = await seed(http, engine, applications=1)
            await engine.dispose()
            attacker = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "tests.security.slowloris", str(server.port)),
                *(str(HELD_SOCKETS), str(HOLD_SECONDS + 1)),
                stdout=asyncio.subprocess.PIPE,
            )
            await asyncio.sleep(1)  # every socket connected and holding
            statuses: Counter[int] = Counter()
            slowest = 0.0
            started = time.monotonic()
            n = 0
            while time.monotonic() - started < HOLD_SECONDS:
                n += 1
                body = encode(booking(uid=f"honest-{n}", email=f"walk-in{n}@example.com"))
                for ask in (
                    http.get("/healthz", headers={"Connection": "close"}),
                    post_signed(http, cohort, body),
                ):
                    asked = time.monotonic()
                    answer = await ask
                    slowest = max(slowest, time.monotonic() - asked)
                    statuses[answer.status_code] += 1
                await asyncio.sleep(0.2)
            output, _ = await attacker.communicate()
            dropped_after: list[float] = json.loads(output)
    finally:
        server.stop()
    print(
        f"{HELD_SOCKETS} sockets holding unfinished heads for {HOLD_SECONDS:.0f}s: "
        f"answers {dict(statuses)}, slowest {slowest * 1000:.0f} ms; "
        f"{len(dropped_after)} dropped, after {min(dropped_after):.1f}-{max(dropped_after):.1f}s"
    )

    assert statuses == {200: 2 * n}
    # Shut out, a request would wait for the held sockets to be dropped at the head timeout;
    # let in, it waits on a busy machine at worst (1.0 s was once exceeded by 15 ms in CI).
    assert slowest < HEAD_TIMEOUT / 2
    # Every held socket was dropped at the head timeout, and again after reconnecting.
    assert len(dropped_after) >= 3 * HELD_SOCKETS
    # (The server's clock starts at the accept, a moment before the attacker's does.)
    assert min(dropped_after) > HEAD_TIMEOUT - 1
    assert max(dropped_after) < HEAD_TIMEOUT + 2


HALF_SENT_BODIES = 600
ONE_MIB = 1024 * 1024
BODY_TIMEOUT = 3.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def webhook_head(cohort_id: str, length: int) -> bytes:
    return (
        f"POST /webhooks/calcom/{cohort_id} HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def half_send(port: int, cohort_id: str) -> bytes:
    """Half a 1 MiB delivery, then wait: answers what the server sent before it hung up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(webhook_head(cohort_id, ONE_MIB) + b"{" + b" " * (ONE_MIB // 2))
        await writer.drain()
        return await reader.read()
    except ConnectionResetError:  # closed with some of what was sent still unread
        return b""
    finally:
        writer.close()


async def test_half_sent_bodies_are_dropped_and_their_memory_given_back(
    database_url: str, tmp_path: Path
) -> None:
    server = start_service(
        database_url,
        tmp_path,
        RUN_DISPATCHER="false",
        SERVER_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
    )
    assert server.process is not None
    pid = server.process.pid
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            engine = create_async_engine(database_url)
            cohort = await seed(http, engine, applications=1)
            await engine.dispose()
            # To no cohort: refused before the body is read, while it is still on the way.
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(webhook_head(str(uuid.uuid4()), ONE_MIB) + b"{")
            unknown = await reader.readuntil(b"\r\n")
            writer.close()
            before = rss_mib(pid)
            started = time.monotonic()
            halves = asyncio.gather(
                *(half_send(server.port, cohort.id) for _ in range(HALF_SENT_BODIES))
            )
            await asyncio.sleep(BODY_TIMEOUT - 1)
            during = rss_mib(pid)
            # Without the body timeout they would hang on for ever.
            async with asyncio.timeout(BODY_TIMEOUT + 20):
                answers = await halves
            dropped_after = time.monotonic() - started
            await asyncio.sleep(2)
            after = rss_mib(pid)
            health = await http.get("/healthz")
    finally:
        server.stop()
    print(
        f"{HALF_SENT_BODIES} half-sent 1 MiB bodies: RSS {before:.0f} MiB before, "
        f"{during:.0f} during, {after:.0f} after; all dropped within {dropped_after:.1f}s"
    )

    assert unknown.startswith(b"HTTP/1.1 404 ")
    assert answers == [b""] * HALF_SENT_BODIES  # hung up on, with no answer
    # 300 MiB were sent; before the fix a worker kept 255 MiB of it for good. What stays is
    # the allocators' fragments (Python's own arenas among them).
    assert after - before < 96
    assert health.status_code == 200


async def test_a_client_hanging_up_mid_body_is_one_info_line_not_a_5xx(
    server: ServiceProcess, http: httpx.AsyncClient, seeded: Cohort
) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(webhook_head(seeded.id, 10_000) + b'{"triggerEvent": "BOOKING_')
    await writer.drain()
    await asyncio.sleep(0.5)  # the route is reading the body
    writer.close()
    await asyncio.sleep(0.5)
    scraped = parse((await http.get("/metrics")).text)

    route = "/webhooks/calcom/{cohort_id}"
    lines = [line for line in log_lines(server) if line.get("route") == route]
    assert [(line["level"], line["status"]) for line in lines] == [("info", 499)]
    assert [line for line in log_lines(server) if "exception" in line] == []
    assert "Traceback" not in server.output()
    counted = {
        labels: count
        for (name, labels), count in scraped.items()
        if name == "scheduling_http_requests_total" and ("route", route) in labels
    }
    assert {dict(labels)["status"] for labels in counted} == {"499"}


METRICS_TOKEN = "scrape-" + "k3y" * 10
MAX_TOKEN_AGE = 3600


def token(**claims: Any) -> dict[str, str]:
    now = int(time.time())
    payload = {"sub": "someone", "role": "system_admin", "exp": now + 3600, **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, JWT_SECRET, algorithm='HS256')}"}


async def test_metrics_token_relative_redirects_and_token_age(
    database_url: str, tmp_path: Path
) -> None:
    server = start_service(
        database_url,
        tmp_path,
        RUN_DISPATCHER="false",
        METRICS_TOKEN=METRICS_TOKEN,
        JWT_MAX_TOKEN_AGE=str(MAX_TOKEN_AGE),
    )
    now = int(time.time())
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            scrapes = [
                await http.get("/metrics", headers=headers)
                for headers in (
                    {},
                    {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Basic {METRICS_TOKEN}"},
                    {"Authorization": f"Bearer {METRICS_TOKEN}"},
                )
            ]
            redirected = await http.get(
                "/v1/organizations/", headers={"Host": "evil.example", **token(iat=now)}
            )
            ages = [
                (
                    await http.get(
                        "/v1/organizations/00000000-0000-0000-0000-000000000000", headers=headers
                    )
                ).status_code
                for headers in (
                    token(iat=now - 60),
                    token(iat=now - MAX_TOKEN_AGE - 60),
                    token(),  # no iat: its age cannot be told
                )
            ]
    finally:
        server.stop()

    assert [s.status_code for s in scrapes] == [401, 401, 401, 200]
    assert scrapes[0].headers["www-authenticate"] == "Bearer"
    assert scrapes[0].json()["type"] == "urn:scheduling-service:problem:unauthorized"
    assert "scheduling_http_requests_total" in scrapes[3].text
    assert redirected.status_code == 307
    assert redirected.headers["location"] == "/v1/organizations"
    assert ages == [404, 401, 401]
