import contextlib
import logging
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from scheduling_service.config import Settings, SmtpEndpoint

logger = logging.getLogger(__name__)

# A mail server that accepts the connection and then stalls must not hold a message (and its
# row lock, and shutdown) for aiosmtplib's default minute.
SMTP_TIMEOUT_SECONDS = 30.0
# Checking the server at start must not hold the start long: alerts wait in the outbox anyway.
PROBE_TIMEOUT_SECONDS = 5.0


class Sender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpSender:
    def __init__(self, server: SmtpEndpoint) -> None:
        self.server = server

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.server.hostname,
            port=self.server.port,
            username=self.server.username,
            password=self.server.password,
            use_tls=self.server.use_tls,
            start_tls=self.server.start_tls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )


async def unreachable_reason(server: SmtpEndpoint) -> str | None:
    """Why the mail server cannot be reached now (no login, no message), or None."""
    client = aiosmtplib.SMTP(
        hostname=server.hostname,
        port=server.port,
        use_tls=server.use_tls,
        start_tls=False,
        timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        await client.connect()
    except (OSError, aiosmtplib.SMTPException) as error:
        return f"{server.hostname}:{server.port}: {error}"
    with contextlib.suppress(OSError, aiosmtplib.SMTPException):
        await client.quit()
    return None


class LogSender:
    """Stands in for a mail server in development; the body stays out of the log, since it
    names applicants."""

    async def send(self, message: EmailMessage) -> None:
        logger.info(
            "SMTP_URL is unset, so this alert is logged, not emailed: %r to %s",
            message["Subject"],
            message["To"],
        )


def create_sender(settings: Settings) -> Sender:
    server = settings.smtp_server()
    return LogSender() if server is None else SmtpSender(server)
