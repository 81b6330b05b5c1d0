"""Booker-typed text in an alert email, sent by the real server process to a real SMTP server.

Python's email library decodes an RFC 2047 encoded-word it finds in a header value while
folding it (CVE-2024-6923, unpatched in the 3.11.7 this suite runs on): a name that decodes to
line breaks wrote headers and a body of its own; one that decodes to a lone surrogate made the
alert impossible to encode, so it was never sent.
"""

import html
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.factories import create_cohort, create_org
from tests.mail import Received, SmtpServer, eventually
from tests.security.conftest import served_process

# Real commits (tests/conftest.py): a server process reads what the test committed
pytestmark = pytest.mark.commits

ADMIN = "ada@acme.example"
INJECTION = (
    "=?utf-8?q?=0D=0AReply-To:_a@evil.example=0D=0AContent-Type:_text/html"
    "=0D=0A=0D=0A<h1>Act_now</h1>?="
)
# Decodes to U+D800, which no encoding can write.
LONE_SURROGATE = "=?unicode-escape?q?=5Cud800?="
HOSTILE_COHORT = "=?utf-8?q?=0D=0ABcc:_victim@example.com?= Spring 2026"

# What a booker controls, one orphaned booking each: (name, email, time zone, meeting link).
ZONE = "America/New_York"
LINK = "https://app.cal.com/video/1"
BOOKINGS = [
    (INJECTION, "eve1@example.com", ZONE, LINK),
    (LONE_SURROGATE, "eve2@example.com", ZONE, LINK),
    ("Eve", "=?utf-8?q?=0d=0abcc:_victim@example.com?=@example.com", ZONE, LINK),
    ("Eve", "eve4@example.com", "=?utf-8?q?=0D=0AX-Injected:_1?=", LINK),
    ("Eve", "eve5@example.com", "UTC", "https://x.example/=?utf-8?q?=0D=0AX-Injected:_1?="),
]
HEADERS = {"Subject", "From", "To", "Date", "Message-ID", "MIME-Version", "Content-Type"}


@pytest.fixture
async def served(
    client: httpx.AsyncClient, database_url: str, smtp: SmtpServer
) -> AsyncIterator[httpx.AsyncClient]:
    """`scheduling-service serve`, sending its alerts to `smtp` (`client` empties the tables)."""
    env = {"SMTP_URL": smtp.url, "DISPATCHER_POLL_SECONDS": "0.1", "ALERT_LIMIT_PER_WINDOW": "50"}
    async with served_process(database_url, **env) as http:
        yield http


def _booking(n: int, name: str, email: str, zone: str, link: str) -> dict[str, Any]:
    attendees = [{"email": email, "name": name, "timeZone": zone}]
    metadata = {"videoCallUrl": link}
    return booking(uid=f"eve-{n}", name=name, email=email, attendees=attendees, metadata=metadata)


async def test_booker_text_never_changes_an_alerts_headers_or_structure(
    served: httpx.AsyncClient, tokens: Tokens, smtp: SmtpServer
) -> None:
    org = await create_org(served, tokens, admin_emails=[ADMIN])
    cohort = await create_cohort(served, tokens, org["id"], name=HOSTILE_COHORT)
    for n, fields in enumerate(BOOKINGS):
        response = await deliver(served, cohort, _booking(n, *fields))
        assert response.json()["outcome"] == "orphaned", response.text

    async def all_received() -> list[Received] | None:
        return smtp.received if len(smtp.received) >= len(BOOKINGS) else None

    received = await eventually(all_received, "an alert per booking", seconds=30)

    assert len(received) == len(BOOKINGS)
    shown = {}
    for message in received:
        email = message.message
        assert message.recipients == [ADMIN]
        assert {name for name, _ in email.items()} == HEADERS
        # The cohort is shown as named, though not as an encoded-word the library decodes.
        assert message.subject.replace("\N{ZERO WIDTH SPACE}", "") == (
            f"[{HOSTILE_COHORT}] Unmatched interview booking on Tue 12 May 2026 14:00 UTC"
        )
        assert email.get_content_type() == "multipart/alternative"
        assert [part.get_content_type() for part in email.iter_parts()] == [
            "text/plain",
            "text/html",
        ]
        applicant = next(line for line in message.text.splitlines() if line.startswith("Appl"))
        shown[applicant] = message
    # Each alert shows what was typed, as typed.
    for name, address, zone, link in BOOKINGS:
        message = shown[f"Applicant: {name} <{address.lower()}>"]
        for typed in (f"{name} <{address.lower()}>", zone, link):
            assert typed in message.text
            assert html.escape(typed) in message.html
