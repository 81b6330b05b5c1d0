"""When the service was down: Cal.com's webhooks for 50 changes went nowhere; reconciliation
with the (fake) Cal.com bookings API recovers them, exactly as the webhooks would have.

The oracle is a second cohort of the same organization, with the same applications, fed the
webhooks Cal.com would have sent for the same changes (`FakeCalcom.webhooks`)."""

import asyncio
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from scheduling_service.calcom.signature import sign
from tests.calcom_bodies import encode
from tests.conftest import JWT_SECRET, Tokens
from tests.fake_calcom_api import API_KEY, FakeCalcomServer
from tests.reconciliation.observe import alerts, cohort_view
from tests.server import ServiceProcess, service_env

APPLICANTS = 24
OUTAGE_CHANGES = 50


def deliver(base_url: str, cohort: dict[str, Any], body: dict[str, Any]) -> str:
    raw = encode(body)
    answer = httpx.post(
        f"{base_url}/webhooks/calcom/{cohort['id']}",
        content=raw,
        headers={
            "Content-Type": "application/json",
            "X-Cal-Signature-256": sign(raw, cohort["webhook_secret"]),
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    outcome: str = answer.json()["outcome"]
    return outcome


def outage(fake: FakeCalcomServer, emails: list[str], known: list[str], seated: str) -> None:
    """50 changes while the service is down: bookings made, rescheduled (chains included) and
    cancelled, seats taken and given up; applicants with and without an application."""
    calcom = fake.calcom
    rng = random.Random(15)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    before = len(calcom.webhooks)
    made = []
    for n in range(20):
        email = emails[n] if n < 16 else f"stranger{n}@example.net"
        made.append(calcom.create(email, f"Applicant {n}", start + timedelta(hours=n)))
    chain = made[0]
    for hop in range(3):  # a chain: made, moved, moved again, moved a third time
        chain = calcom.reschedule(chain, start + timedelta(days=1, hours=hop))
    for n, uid in enumerate(made[1:6]):
        calcom.reschedule(uid, start + timedelta(days=2, hours=n))
    for n, uid in enumerate(known[:4]):  # bookings the service knew before the outage
        calcom.reschedule(uid, start + timedelta(days=3, hours=n))
    for uid in made[6:11]:
        calcom.cancel(uid, reason="Found another slot")
    for uid in known[4:7]:
        calcom.cancel(uid)
    orphan_chain = calcom.reschedule(made[17], start + timedelta(days=4))
    calcom.cancel(orphan_chain)
    calcom.take_seat(seated, emails[20], "Seat Taker")
    calcom.take_seat(seated, "seat.stranger@example.net", "Seat Stranger")
    calcom.leave_seat(seated, emails[18])
    calcom.leave_seat(seated, emails[19])
    for n in range(4):
        calcom.create(
            emails[21 + n % 3], f"Late {n}", start + timedelta(days=5, hours=rng.randint(0, 9))
        )
    assert len(calcom.webhooks) - before == OUTAGE_CHANGES


async def reconciliation_events(database_url: str, cohort_id: str) -> Counter[str]:
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT outcome FROM webhook_events WHERE cohort_id = :cohort "
                "AND source = 'reconciliation'"
            ),
            {"cohort": cohort_id},
        )
        outcomes = Counter(str(outcome) for (outcome,) in rows)
    await engine.dispose()
    return outcomes


def test_reconciliation_recovers_what_the_webhooks_of_an_outage_would_have_done(
    database_url: str, fake_calcom: FakeCalcomServer, tokens: Tokens
) -> None:
    env = service_env(database_url, JWT_SECRET=JWT_SECRET, RUN_RECONCILER="false")
    first = ServiceProcess(env)
    first.start()
    url = first.base_url
    admin = tokens("system_admin")
    org = httpx.post(
        f"{url}/v1/organizations",
        json={"name": "Outage", "admin_emails": ["ops@outage.example"]},
        headers=admin,
    ).json()
    cohorts = [
        httpx.post(
            f"{url}/v1/organizations/{org['id']}/cohorts", json={"name": n}, headers=admin
        ).json()
        for n in ("reconciled", "oracle")
    ]
    reconciled, oracle = cohorts
    emails = [f"applicant{n}@example.org" for n in range(APPLICANTS)]
    for cohort in cohorts:
        for n, email in enumerate(emails):
            created = httpx.post(
                f"{url}/v1/cohorts/{cohort['id']}/applications",
                json={
                    "applicant_name": f"Applicant {n}",
                    "contact_email": email,
                    "status": "waiting_first_round",
                },
                headers=admin,
            )
            assert created.status_code == 201, created.text
    connected = httpx.put(
        f"{url}/v1/cohorts/{reconciled['id']}/calcom-connection",
        json={"api_key": API_KEY, "base_url": fake_calcom.base_url},
        headers=admin,
    )
    assert connected.status_code == 200, connected.text
    assert API_KEY not in connected.text

    # While the service is up: bookings whose webhooks arrive, in both cohorts.
    calcom = fake_calcom.calcom
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    known = [
        calcom.create(emails[16 + n % 4], f"Known {n}", soon + timedelta(hours=n)) for n in range(7)
    ]
    known[4:] = [
        calcom.create(emails[n], f"Known {n}", soon + timedelta(days=1, hours=n))
        for n in (22, 23, 21)
    ]
    seated = calcom.create_seated(emails[17], "Seat One", soon + timedelta(days=2))
    calcom.take_seat(seated, emails[18], "Seat Two")
    calcom.take_seat(seated, emails[19], "Seat Three")
    for body in calcom.webhooks:
        for cohort in cohorts:
            deliver(url, cohort, body)
    # Webhook first, reconciliation after: it finds nothing to do.
    nothing = httpx.post(
        f"{url}/v1/cohorts/{reconciled['id']}/reconcile", json={}, headers=admin, timeout=60
    )
    assert nothing.status_code == 200, nothing.text
    assert nothing.json()["changes"] == []
    first.stop()

    seen = len(calcom.webhooks)
    outage(fake_calcom, emails, known, seated)
    lost = calcom.webhooks[seen:]

    replicas = [ServiceProcess(env), ServiceProcess(env)]
    with ThreadPoolExecutor() as pool:
        list(pool.map(ServiceProcess.start, replicas))
    try:
        urls = [replica.base_url for replica in replicas]
        with httpx.Client(base_url=urls[0], timeout=60) as client:
            before = cohort_view(client, admin, reconciled["id"])

            dry = client.post(
                f"/v1/cohorts/{reconciled['id']}/reconcile", json={"dry_run": True}, headers=admin
            )
            assert dry.status_code == 200, dry.text
            assert dry.json()["applied"] is False
            assert len(dry.json()["changes"]) == OUTAGE_CHANGES
            assert cohort_view(client, admin, reconciled["id"]) == before
            assert asyncio.run(reconciliation_events(database_url, reconciled["id"])) == Counter()

            # Two replicas at once: one holds the cohort's lease; each change applies once.
            def reconcile(base: str) -> httpx.Response:
                return httpx.post(
                    f"{base}/v1/cohorts/{reconciled['id']}/reconcile",
                    json={},
                    headers=admin,
                    timeout=60,
                )

            with ThreadPoolExecutor() as pool:
                answers = list(pool.map(reconcile, urls))
            assert sorted(a.status_code for a in answers) in ([200, 200], [200, 409]), [
                a.text for a in answers
            ]
            applied = [c for a in answers if a.status_code == 200 for c in a.json()["changes"]]
            recovered = [c for c in applied if not c["already_applied"]]
            assert len(recovered) == OUTAGE_CHANGES
            events = asyncio.run(reconciliation_events(database_url, reconciled["id"]))
            assert sum(events.values()) == OUTAGE_CHANGES
            assert events["duplicate"] == 0

            # The oracle: the same changes, delivered as webhooks.
            for body in lost:
                deliver(urls[1], oracle, body)
            recovered_view = cohort_view(client, admin, reconciled["id"])
            assert recovered_view == cohort_view(client, admin, oracle["id"])
            assert asyncio.run(alerts(database_url, reconciled["id"])) == asyncio.run(
                alerts(database_url, oracle["id"])
            )

            # The lost webhooks arrive late after all: nothing changes.
            late = Counter(deliver(urls[1], reconciled, body) for body in lost)
            assert set(late) <= {"duplicate", "ignored"}, late
            assert cohort_view(client, admin, reconciled["id"]) == recovered_view
            again = client.post(f"/v1/cohorts/{reconciled['id']}/reconcile", json={}, headers=admin)
            assert again.status_code == 200, again.text
            assert again.json()["changes"] == []
            status = client.get(f"/v1/cohorts/{reconciled['id']}", headers=admin).json()[
                "calcom_connection"
            ]
            assert status["last_error"] is None
            assert status["last_success_at"] is not None
            assert status["watermark"] is not None
            print(
                f"\nbookings lost by webhook: {len(lost)}, recovered by reconciliation: "
                f"{len(recovered)}, applied twice: {events['duplicate']}, "
                f"late webhooks: {dict(late)}"
            )
    finally:
        for replica in replicas:
            replica.stop()
            replica.log.unlink(missing_ok=True)
        first.log.unlink(missing_ok=True)
