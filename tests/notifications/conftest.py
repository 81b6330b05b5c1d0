"""The settings that send alerts to the suite's SMTP server (`smtp`), and the dispatcher."""

import pytest

from scheduling_service.config import Settings
from scheduling_service.db import SessionMaker
from scheduling_service.notifications.dispatcher import Dispatcher
from scheduling_service.notifications.sender import create_sender
from tests.mail import SmtpServer
from tests.notifications.support import ALERT_FROM, APP_BASE_URL, WINDOW_SECONDS


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
def dispatcher(sessionmaker: SessionMaker, settings: Settings) -> Dispatcher:
    return Dispatcher(sessionmaker, settings, create_sender(settings))
