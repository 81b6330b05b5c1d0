import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from scheduling_service.config import Settings

logger = logging.getLogger(__name__)

# A mail server that accepts the connection and then stalls must not hold a message (and its
# row lock, and shutdown) for aiosmtplib's default minute.
SMTP_TIMEOUT_SECONDS = 30.0


class Sender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpEndpoint:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None
    """True requires STARTTLS, False never tries it, None uses it when the server offers it."""

    @classmethod
    def from_url(cls, url: str) -> "SmtpEndpoint":
        """smtp://[user:password@]host[:port][?starttls=true|false], or smtps:// for TLS from
        the first byte; the user and password are percent-decoded."""
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            raise ValueError("SMTP_URL must be smtp://[user:password@]host[:port] or smtps://")
        use_tls = parts.scheme == "smtps"
        starttls = parse_qs(parts.query).get("starttls", [None])[-1]
        if starttls not in {None, "true", "false"}:
            raise ValueError("SMTP_URL's starttls must be true or false")
        try:
            port = parts.port or (465 if use_tls else 25)
        except ValueError:
            raise ValueError("SMTP_URL's port must be a number from 0 to 65535") from None
        return cls(
            hostname=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=None if starttls is None else starttls == "true",
        )


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
    if not settings.smtp_url:  # an empty SMTP_URL= in an env file means unset, too
        return LogSender()
    return SmtpSender(SmtpEndpoint.from_url(settings.smtp_url))
