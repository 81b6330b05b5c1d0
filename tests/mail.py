"""A real SMTP server (aiosmtpd) on a free loopback port, keeping what it receives."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.server import free_port

T = TypeVar("T")

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
