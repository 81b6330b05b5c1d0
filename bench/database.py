"""The benchmark's own database: started, migrated and seeded in bulk SQL.

Without DATABASE_URL an embedded PostgreSQL is started under `.data/bench-postgres`; either
way the benchmark works in a throwaway database of that server, dropped at the end.
"""

import asyncio
import contextlib
import hashlib
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy import make_url

from scheduling_service.embedded import start_embedded_postgres
from scheduling_service.migrations import upgrade_to_head

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_DIR = ROOT / ".data" / "bench-postgres"

# A realistic cohort, in percent, in pipeline order: the newest applicants (by created_at) are
# mostly submitted or under review, the oldest mostly decided.
STATUS_MIX: tuple[tuple[str, int], ...] = (
    ("submitted", 20),
    ("under_review", 15),
    ("waiting_first_round", 25),
    ("first_round_scheduled", 10),
    ("waiting_second_round", 10),
    ("second_round_scheduled", 5),
    ("accepted", 5),
    ("waitlist", 4),
    ("declined", 6),
)
SCHEDULED = frozenset({"first_round_scheduled", "second_round_scheduled"})
WAITING = frozenset({"waiting_first_round", "waiting_second_round"})

FIRST_NAMES = [
    "Ada",
    "Ben",
    "Chloe",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kwame",
    "Lena",
    "Marco",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Amara",
    "Bruno",
    "Carmen",
    "Diego",
    "Emeka",
    "Fatima",
    "Gustav",
    "Hana",
    "Ivan",
    "Julia",
    "Kenji",
    "Leila",
    "Mateo",
    "Nora",
]
LAST_NAMES = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Muller",
    "Rossi",
    "Kowalski",
    "Okafor",
    "Tanaka",
    "Silva",
    "Johansson",
    "Dubois",
    "Novak",
    "Haddad",
    "Kim",
    "Petrov",
    "Larsen",
    "Moreau",
    "Schmidt",
    "Costa",
    "Jensen",
    "Ivanova",
    "Mendes",
    "Fischer",
    "Bauer",
    "Romero",
    "Sato",
    "Walker",
    "Wright",
    "Lopez",
    "Clarke",
    "Hughes",
    "Ward",
    "Patel",
    "Shah",
    "Khan",
    "Ali",
    "Osei",
    "Mensah",
    "Adeyemi",
    "Eze",
    "Bianchi",
    "Ricci",
    "Greco",
    "Conti",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Zimmermann",
    "Braun",
    "Kruger",
    "Hartmann",
    "Lang",
    "Vogel",
    "Lehmann",
    "Schulz",
    "Keller",
    "Roth",
    "Frank",
    "Berg",
]
# The interview times of seeded bookings: the weeks after this.
INTERVIEWS_FROM = "2026-06-01T08:00:00+00:00"
EMAIL_DOMAIN = "example.org"


def _bucket_sql(total: str) -> str:
    """Mostly age (the newest applicants just submitted, the oldest decided), a fifth noise."""
    return f"(80 * ({total} - n) / {total} + (n::bigint * 7919 % 100) / 5)"


def status_of(n: int, total: int) -> str:
    """The seeded status of applicant n (1-based) of `total`, as the seed SQL assigns it."""
    bucket = 80 * (total - n) // total + (n * 7919 % 100) // 5
    for status, share in STATUS_MIX:
        if bucket < share:
            return status
        bucket -= share
    return STATUS_MIX[-1][0]


def name_of(n: int) -> str:
    return f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {LAST_NAMES[(n // 7) % len(LAST_NAMES)]}"


def email_of(n: int, tag: str) -> str:
    first, last = name_of(n).lower().split()
    return f"{first}.{last}.{tag}{n}@{EMAIL_DOMAIN}"


def seeded_uid(tag: str, n: int) -> str:
    return f"seed-{tag}-{n}"


def seeded_orphan_uid(tag: str, k: int) -> str:
    return f"seed-orphan-{tag}-{k}"


# Of every 10 seeded orphans, the first 4 are open (then 3 matched, 2 dismissed, 1 cancelled).
SEEDED_OPEN_ORPHANS_PER_10 = 4


def _sql_array(values: tuple[str, ...] | list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def _status_case() -> str:
    arms, low = [], 0
    bucket = _bucket_sql("$2")
    for status, share in STATUS_MIX:
        arms.append(f"WHEN {bucket} < {low + share} THEN '{status}'")
        low += share
    return "CASE " + " ".join(arms) + " ELSE 'declined' END"


@dataclass(frozen=True)
class SeededCohort:
    id: uuid.UUID
    organization_id: uuid.UUID
    secret: str
    tag: str
    applications: int

    def email(self, n: int) -> str:
        return email_of(n, self.tag)


@dataclass
class BenchDatabase:
    server_url: str
    """The server's maintenance database (SQLAlchemy URL)."""
    name: str
    url: str
    """The throwaway database (SQLAlchemy URL, postgresql+asyncpg)."""

    @property
    def dsn(self) -> str:
        """The throwaway database for asyncpg itself."""
        return asyncpg_dsn(self.url)


def asyncpg_dsn(url: str) -> str:
    parsed = make_url(url)
    host = parsed.query.get("host")
    dsn = parsed.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    return f"{dsn}?host={host}" if isinstance(host, str) else dsn


@contextmanager
def bench_database() -> Iterator[BenchDatabase]:
    """A throwaway, migrated database; dropped afterwards."""
    server_url = os.environ.get("DATABASE_URL") or start_embedded_postgres(EMBEDDED_DIR)
    name = f"bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_autocommit(server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_to_head(url)
        yield BenchDatabase(server_url, name, url)
    finally:
        asyncio.run(_autocommit(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _autocommit(url: str, statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def server_settings(dsn: str) -> dict[str, str]:
    connection = await asyncpg.connect(dsn)
    try:
        names = [
            "server_version",
            "synchronous_commit",
            "fsync",
            "wal_sync_method",
            "shared_buffers",
            "max_connections",
            "commit_delay",
        ]
        return {name: str(await connection.fetchval(f"SHOW {name}")) for name in names}
    finally:
        await connection.close()


ADMIN_EMAILS = ["admissions@bench.example", "director@bench.example"]


async def create_organization(connection: asyncpg.Connection) -> uuid.UUID:
    organization_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO organizations (id, name, admin_emails) VALUES ($1, $2, $3)",
        organization_id,
        "Bench Fellowship",
        ADMIN_EMAILS,
    )
    return organization_id


async def seed_cohort(
    connection: asyncpg.Connection, organization_id: uuid.UUID, tag: str, applications: int
) -> SeededCohort:
    """A cohort with `applications` applications in the realistic mix; the scheduled ones with
    their booking and the event that made it; history; 1% as many orphaned interviews."""
    cohort_id = uuid.uuid4()
    secret = secrets.token_hex(32)
    await connection.execute(
        "INSERT INTO cohorts (id, organization_id, name, webhook_secret) VALUES ($1, $2, $3, $4)",
        cohort_id,
        organization_id,
        f"Bench {tag}",
        secret,
    )
    spread = 90 * 86400 / max(applications, 1)  # created over the last 90 days
    first, last = _sql_array(FIRST_NAMES), _sql_array(LAST_NAMES)
    name = (
        f"({first})[1 + n % {len(FIRST_NAMES)}] || ' ' || ({last})[1 + (n / 7) % {len(LAST_NAMES)}]"
    )
    scheduled = f"({_status_case()}) IN ('first_round_scheduled', 'second_round_scheduled')"
    # The search terms are written in bulk below, as the migration that made them did: row by
    # row, their trigger took most of a 1,000,000-application seed.
    await connection.execute("ALTER TABLE applications DISABLE TRIGGER applications_search_terms")
    await connection.execute(
        f"""
        INSERT INTO applications (id, cohort_id, applicant_name, contact_email, status,
            interview_booking_uid, interview_start_time, interview_end_time,
            interview_meeting_url, created_at, updated_at)
        SELECT gen_random_uuid(), $1, {name},
            lower(replace({name}, ' ', '.')) || '.{tag}' || n || '@{EMAIL_DOMAIN}',
            {_status_case()},
            CASE WHEN {scheduled} THEN 'seed-{tag}-' || n END,
            CASE WHEN {scheduled}
                THEN '{INTERVIEWS_FROM}'::timestamptz + make_interval(mins => 30 * (n % 2000)) END,
            CASE WHEN {scheduled}
                THEN '{INTERVIEWS_FROM}'::timestamptz + make_interval(mins => 30 * (n % 2000) + 30)
            END,
            CASE WHEN {scheduled} THEN 'https://app.cal.com/video/seed-{tag}-' || n END,
            now() - make_interval(secs => ($2 - n) * $3::float8),
            now() - make_interval(secs => ($2 - n) * $3::float8)
        FROM generate_series(1, $2) AS n
        """,
        cohort_id,
        applications,
        spread,
    )
    await connection.execute("ALTER TABLE applications ENABLE TRIGGER applications_search_terms")
    await connection.execute(
        """
        INSERT INTO application_search_terms
            (application_id, cohort_id, field, terms, canonical_email, email_local)
        SELECT id, $1, 'applicant_name', lower(applicant_name), NULL, NULL FROM applications
        WHERE cohort_id = $1
        UNION ALL
        SELECT id, $1, 'contact_email', lower(contact_email), canonical_email(contact_email),
            split_part(canonical_email(contact_email), '@', 1)
        FROM applications WHERE cohort_id = $1
        """,
        cohort_id,
    )
    await connection.execute(
        """
        INSERT INTO bookings (id, cohort_id, uid, applicant_email, applicant_name, time_zone,
            start_time, end_time, meeting_url, state, application_id, created_at, updated_at)
        SELECT gen_random_uuid(), cohort_id, interview_booking_uid, lower(contact_email),
            applicant_name, 'Europe/Berlin', interview_start_time, interview_end_time,
            interview_meeting_url, 'active', id, created_at, created_at
        FROM applications WHERE cohort_id = $1 AND interview_booking_uid IS NOT NULL
        """,
        cohort_id,
    )
    # The event log: the delivery that created each seeded booking, about as large as Cal.com's.
    await connection.execute(
        """
        INSERT INTO webhook_events (id, cohort_id, event_id, trigger, outcome, raw_body,
            application_id, received_at)
        SELECT gen_random_uuid(), cohort_id, encode(sha256(convert_to(uid, 'UTF8')), 'hex'),
            'BOOKING_CREATED', 'matched', convert_to(repeat('{"seeded":true}', 100), 'UTF8'),
            application_id, created_at
        FROM bookings WHERE cohort_id = $1
        """,
        cohort_id,
    )
    await connection.execute(
        """
        INSERT INTO history_entries (id, application_id, at, kind, to_status, cause, actor)
        SELECT gen_random_uuid(), id, created_at, 'status', 'submitted', 'admin', 'seed'
        FROM applications WHERE cohort_id = $1
        """,
        cohort_id,
    )
    await connection.execute(
        """
        INSERT INTO history_entries (id, application_id, at, kind, from_status, to_status,
            interview, cause, event_id, actor)
        SELECT gen_random_uuid(), id, created_at + interval '1 day', 'interview_scheduled',
            replace(status, '_scheduled', ''), status,
            jsonb_build_object('booking_uid', interview_booking_uid),
            'webhook', encode(sha256(convert_to(interview_booking_uid, 'UTF8')), 'hex'), 'calcom'
        FROM applications WHERE cohort_id = $1 AND interview_booking_uid IS NOT NULL
        """,
        cohort_id,
    )
    # Bookings that matched nobody, in every state an admin leaves them in.
    await connection.execute(
        f"""
        WITH orphans AS (
            INSERT INTO orphaned_interviews (id, cohort_id, state, applicant_name,
                applicant_email, time_zone, booking_uid, start_time, end_time, meeting_url,
                created_at, updated_at)
            SELECT gen_random_uuid(), $1,
                (ARRAY['open', 'open', 'open', 'open', 'matched', 'matched', 'matched',
                       'dismissed', 'dismissed', 'cancelled'])[1 + k % 10],
                'Walk In ' || k, 'walkin.{tag}' || k || '@elsewhere.example', 'UTC',
                'seed-orphan-{tag}-' || k,
                '{INTERVIEWS_FROM}'::timestamptz + make_interval(mins => 30 * k),
                '{INTERVIEWS_FROM}'::timestamptz + make_interval(mins => 30 * k + 30),
                NULL, now() - make_interval(secs => k), now() - make_interval(secs => k)
            FROM generate_series(1, greatest($2 / 100, 1)) AS k
            RETURNING *
        )
        INSERT INTO bookings (id, cohort_id, uid, applicant_email, applicant_name, time_zone,
            start_time, end_time, state, orphaned_interview_id)
        SELECT gen_random_uuid(), cohort_id, booking_uid, applicant_email, applicant_name,
            time_zone, start_time, end_time,
            CASE WHEN state = 'cancelled' THEN 'cancelled' ELSE 'active' END, id
        FROM orphans
        """,
        cohort_id,
        applications,
    )
    return SeededCohort(cohort_id, organization_id, secret, tag, applications)


async def seed(dsn: str, cohorts: dict[str, int]) -> tuple[dict[str, SeededCohort], float]:
    """Seed one organization with the cohorts {tag: applications}; answers them and seconds."""
    started = time.perf_counter()
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            organization_id = await create_organization(connection)
            seeded = {
                tag: await seed_cohort(connection, organization_id, tag, count)
                for tag, count in cohorts.items()
            }
        # As autovacuum would have, long before: planner statistics and the visibility map.
        await connection.execute("VACUUM ANALYZE")
        # And the seed's dirty pages written now, not by a checkpoint during a measurement
        # (DATABASE_URL's role may not be allowed to: the first phase may then see one).
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CHECKPOINT")
    finally:
        await connection.close()
    return seeded, time.perf_counter() - started


async def seed_lookalike_orphans(dsn: str, cohort: SeededCohort, count: int) -> list[uuid.UUID]:
    """`count` open orphans, the newest of the cohort, each booked by someone who looks like
    an applicant spread over the cohort: the same name, the email without its dots and with a
    `+tag` (what the candidate ranking is for). Answers their IDs."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            """
            INSERT INTO orphaned_interviews (id, cohort_id, state, applicant_name,
                applicant_email, time_zone, booking_uid, start_time, end_time, created_at,
                updated_at)
            SELECT gen_random_uuid(), $1, 'open', a.applicant_name,
                replace(split_part(a.contact_email, '@', 1), '.', '') || '+interview@'
                    || split_part(a.contact_email, '@', 2),
                'UTC', 'lookalike-' || a.id, now(), now() + interval '30 minutes',
                now() + make_interval(secs => a.k), now()
            FROM (
                SELECT id, applicant_name, contact_email,
                    row_number() OVER (ORDER BY created_at) AS k
                FROM applications WHERE cohort_id = $1
            ) AS a
            WHERE a.k % greatest($2::bigint / $3::bigint, 1) = 0
            LIMIT $3
            RETURNING id
            """,
            cohort.id,
            cohort.applications,
            count,
        )
    finally:
        await connection.close()
    return [row["id"] for row in rows]


def event_id(trigger: str, uid: str, created_at: str) -> str:
    """The service's event ID for a delivery (SPEC section 3)."""
    return hashlib.sha256(f"{trigger}\n{uid}\n{created_at}".encode()).hexdigest()


async def checkpoint(dsn: str) -> None:
    """Write the previous phase's dirty pages now, not during the next measurement."""
    connection = await asyncpg.connect(dsn)
    try:
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def send_waiting_digests(dsn: str) -> int:
    """Mark the orphan digests waiting for their rate-limit window as sent, as the dispatcher
    does once the window passes; answers how many. Between phases, so that each starts from
    a comparable outbox: a digest's orphans are one array that grows with every orphan of the
    window (see bench/RESULTS.md), and a phase would otherwise inherit the last one's."""
    connection = await asyncpg.connect(dsn)
    try:
        status = await connection.execute(
            "UPDATE outbox_messages SET state = 'sent', sent_at = now()"
            " WHERE state = 'pending' AND kind = 'orphan_digest'"
        )
    finally:
        await connection.close()
    return int(status.split()[-1])
