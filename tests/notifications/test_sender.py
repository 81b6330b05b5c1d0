"""The sender: SMTP_URL's forms, authentication, and logging when no mail server is set."""

import logging

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from httpx import AsyncClient

from scheduling_service.config import Settings, SmtpEndpoint
from scheduling_service.db import SessionMaker
from scheduling_service.models import MessageState
from scheduling_service.notifications.dispatcher import Dispatcher
from scheduling_service.notifications.sender import create_sender
from tests.factories import ADMINS
from tests.mail import SmtpServer
from tests.notifications.support import Json, orphan_booking, outbox


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.test", SmtpEndpoint("mail.test", 25, None, None, False, None)),
        (
            "smtp://mail.test:587?starttls=true",
            SmtpEndpoint("mail.test", 587, None, None, False, True),
        ),
        (
            "smtp://relay:2525?starttls=false",
            SmtpEndpoint("relay", 2525, None, None, False, False),
        ),
        (
            "smtps://alerts%40acme.example:p%40ss%3Aw%2Frd@mail.test",
            SmtpEndpoint("mail.test", 465, "alerts@acme.example", "p@ss:w/rd", True, None),
        ),
    ],
)
def test_smtp_url_forms(url: str, expected: SmtpEndpoint) -> None:
    assert SmtpEndpoint.from_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["http://mail.test", "smtp://", "smtp://mail.test:port", "smtp://mail.test?starttls=maybe"],
)
def test_unusable_smtp_url_is_refused_at_start(url: str, settings: Settings) -> None:
    with pytest.raises(ValueError, match="SMTP_URL"):
        create_sender(settings.model_copy(update={"smtp_url": url}))


# Plain-text AUTH is what this loopback test server can offer without a certificate.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_credentials_in_smtp_url_log_in_to_the_server(
    client: AsyncClient, cohort: Json, settings: Settings, sessionmaker: SessionMaker
) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"p@ss:word")

    server = SmtpServer(authenticator=authenticate, auth_required=True, auth_require_tls=False)
    server.start()
    try:
        url = f"smtp://alerts%40acme:p%40ss%3Aword@127.0.0.1:{server.port}"
        with_login = settings.model_copy(update={"smtp_url": url})
        dispatcher = Dispatcher(sessionmaker, with_login, create_sender(with_login))
        await orphan_booking(client, cohort, 1)

        assert await dispatcher.dispatch_once() == 2
    finally:
        server.stop()

    assert logins == [(b"alerts@acme", b"p@ss:word")] * 2
    assert sorted(r.recipients[0] for r in server.received) == ADMINS


async def test_without_smtp_url_alerts_are_logged_by_subject_and_recipient_only(
    client: AsyncClient,
    cohort: Json,
    settings: Settings,
    sessionmaker: SessionMaker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="scheduling_service.notifications.sender")
    unset = settings.model_copy(update={"smtp_url": None})
    dispatcher = Dispatcher(sessionmaker, unset, create_sender(unset))
    orphan_id = await orphan_booking(client, cohort, 1, uid="uid-quiet")

    assert await dispatcher.dispatch_once() == 2

    logged = [
        r.getMessage()
        for r in caplog.records
        if r.name == "scheduling_service.notifications.sender"
    ]
    subject = "[Spring 2026] Unmatched interview booking on Tue 12 May 2026 14:00 UTC"
    assert sorted(logged) == sorted(
        f"SMTP_URL is unset, so this alert is logged, not emailed: {subject!r} to {admin}"
        for admin in ADMINS
    )
    assert not any(orphan_id in line or "uid-quiet" in line for line in logged)
    assert {m.state for m in await outbox(sessionmaker)} == {MessageState.SENT.value}
