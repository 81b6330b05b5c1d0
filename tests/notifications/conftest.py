"""A real SMTP server (aiosmtpd) on a free loopback port, and the settings that send to it."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, TypeVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, text

from scheduling_service.config import Settings
from scheduling_service.db import SessionMaker
from scheduling_service.models import OutboxMessage
from scheduling_service.notifications.dispatcher import Dispatcher
from scheduling_service.notifications.sender import create_sender
from tests.calcom_bodies import booking, deliver
from tests.conftest import Tokens
from tests.e2e.server import free_port
from tests.setup_data import create_cohort, create_org

Json = dict[str, Any]
T = TypeVar("T")

ADMINS = ["ada@acme.example", "grace@acme.example"]
APP_BASE_URL = "https://app.scheduling.test"
ALERT_FROM = "Scheduling alerts <alerts@scheduling.test>"
WINDOW_SECONDS = 3
DEADLINE_SECONDS = 10.0


@dataclass(frozen=True)
class Received:
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        # A subject folded whole onto a continuation line comes back with its leading space.
        return str(self.message["Subject"]).strip()

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "no text/plain part"
        content: str = part.get_content()
        return content

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None, "no text/html part"
        content: str = part.get_content()
        return content


@dataclass
class Mailbox:
    """The aiosmtpd handler: keeps every message the server accepts."""

    received: list[Received] = field(default_factory=list)
    delay_seconds: float = 0.0
    receiving: int = 0
    """How many messages the server has begun to take in."""

    async def handle_DATA(  # noqa: N802 (the name aiosmtpd calls)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.receiving += 1
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        raw = envelope.original_content or b""
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        self.received.append(Received(list(envelope.rcpt_tos), message))
        return "250 OK"


class SmtpServer:
    """A real SMTP server that tests can stop and start again on the same port."""

    def __init__(self, **smtp_options: Any) -> None:
        self.port = free_port()
        self.mailbox = Mailbox()
        self.smtp_options = smtp_options
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.mailbox.received

    def start(self) -> None:
        self.controller = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.port, **self.smtp_options
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    """The suite's settings, sending to the test SMTP server, with short delays."""
    return settings.model_copy(
        update={
            "smtp_url": smtp.url,
            "app_base_url": APP_BASE_URL,
            "alert_from": ALERT_FROM,
            "alert_window_seconds": WINDOW_SECONDS,
            "outbox_retry_base_seconds": 0.05,
            "outbox_retry_max_seconds": 0.2,
        }
    )


@pytest.fixture
def sessionmaker(app: FastAPI) -> SessionMaker:
    maker: SessionMaker = app.state.sessionmaker
    return maker


@pytest.fixture
def dispatcher(sessionmaker: SessionMaker, settings: Settings) -> Dispatcher:
    return Dispatcher(sessionmaker, settings, create_sender(settings))


@pytest.fixture
async def org(client: AsyncClient, tokens: Tokens) -> Json:
    return await create_org(client, tokens, admin_emails=ADMINS)


@pytest.fixture
async def cohort(client: AsyncClient, tokens: Tokens, org: Json) -> Json:
    return await create_cohort(client, tokens, org, name="Spring 2026")


async def one_admin_cohort(client: AsyncClient, tokens: Tokens, admin: str) -> Json:
    org = await create_org(client, tokens, name="Solo", admin_emails=[admin])
    return await create_cohort(client, tokens, org, name="Spring 2026")


async def orphan_booking(
    client: AsyncClient, cohort: Json, n: int, *, uid: str | None = None, **fields: Any
) -> str:
    """Deliver a booking from an email no application has; answers the orphan's ID."""
    fields.setdefault("email", f"stranger{n}@example.com")
    fields.setdefault("name", f"Stranger {n}")
    response = await deliver(client, cohort, booking(uid=uid or f"orphan-{n}", **fields))
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "orphaned", response.text
    orphan_id: str = response.json()["orphaned_interview_id"]
    return orphan_id


async def outbox(sessionmaker: SessionMaker) -> list[OutboxMessage]:
    async with sessionmaker() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.recipient)
        return list((await session.scalars(query)).all())


async def database_now(sessionmaker: SessionMaker) -> Any:
    async with sessionmaker() as session:
        return await session.scalar(text("SELECT clock_timestamp()"))


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, seconds: float = DEADLINE_SECONDS
) -> T:
    """Poll `check` until it answers something, or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
