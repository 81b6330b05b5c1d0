"""Where the dispatcher runs: the app's lifespan, `scheduling-service worker`, and outages."""

import asyncio
import logging
import signal

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from scheduling_service.app import create_app
from scheduling_service.config import Settings
from scheduling_service.db import SessionMaker, create_engine, create_sessionmaker
from scheduling_service.models import MessageState
from scheduling_service.notifications.dispatcher import Dispatcher
from scheduling_service.notifications.sender import create_sender
from tests.conftest import Tokens
from tests.factories import ADMINS
from tests.mail import Received, SmtpServer, eventually
from tests.notifications.support import (
    APP_BASE_URL,
    Json,
    one_admin_cohort,
    orphan_booking,
    outbox,
)
from tests.server import BIN, free_port, service_env

# Real commits (tests/conftest.py): dispatchers running beside the test, in the app or a process
pytestmark = pytest.mark.commits


async def test_dispatcher_started_with_the_app_sends_alerts(
    settings: Settings, database_url: str, smtp: SmtpServer, cohort: Json
) -> None:
    # The suite's app fixture runs no dispatcher; this one is built as `serve` builds it.
    app = create_app(
        settings.model_copy(update={"run_dispatcher": True, "dispatcher_poll_seconds": 0.05}),
        database_url,
    )
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as served,
    ):
        await orphan_booking(served, cohort, 1)

        async def both_received() -> list[Received] | None:
            return smtp.received if len(smtp.received) == 2 else None

        received = await eventually(both_received, "the alerts")

    assert sorted(r.recipients[0] for r in received) == ADMINS


async def test_stopping_the_dispatcher_finishes_the_message_in_hand_and_no_more(
    client: AsyncClient,
    settings: Settings,
    sessionmaker: SessionMaker,
    smtp: SmtpServer,
    cohort: Json,
) -> None:
    await orphan_booking(client, cohort, 1)
    smtp.mailbox.delay_seconds = 0.5
    stop = asyncio.Event()
    task = asyncio.create_task(
        Dispatcher(sessionmaker, settings, create_sender(settings)).run(stop)
    )

    async def sending() -> bool | None:
        return smtp.mailbox.receiving > 0 or None

    await eventually(sending, "the first message to be on its way")
    stop.set()
    await asyncio.wait_for(task, timeout=5)

    assert len(smtp.received) == 1
    states = sorted((m.state, m.attempts) for m in await outbox(sessionmaker))
    assert states == [(MessageState.PENDING.value, 0), (MessageState.SENT.value, 1)]


async def test_dispatcher_keeps_polling_through_a_database_outage(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scheduling_service.outages")
    unreachable = create_engine(
        f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x", settings
    )
    assert settings.database_url is not None
    reachable = create_engine(settings.database_url, settings)
    fast = settings.model_copy(update={"dispatcher_poll_seconds": 0.05})
    dispatcher = Dispatcher(create_sessionmaker(unreachable), fast, create_sender(fast))
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))

    def said(message: str) -> list[str]:
        return [r.message for r in caplog.records if r.message == message]

    async def logged(message: str) -> list[str] | None:
        return said(message) or None

    try:
        await eventually(lambda: logged("database unreachable"), "the outage told")
        await asyncio.sleep(20 * fast.dispatcher_poll_seconds)
        # The database comes back: the next pass reaches it.
        dispatcher.sessionmaker = create_sessionmaker(reachable)
        await eventually(lambda: logged("database reachable again"), "the recovery told")
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        await unreachable.dispose()
        await reachable.dispose()

    # Twenty failed passes, one line; no traceback.
    assert len(said("database unreachable")) == 1
    assert not [r for r in caplog.records if r.exc_info]


async def test_worker_command_sends_alerts_and_stops_on_sigterm(
    client: AsyncClient, tokens: Tokens, database_url: str, smtp: SmtpServer
) -> None:
    cohort = await one_admin_cohort(client, tokens, "ada@acme.example")
    orphan_id = await orphan_booking(client, cohort, 1)
    env = service_env(
        database_url,
        SMTP_URL=smtp.url,
        APP_BASE_URL=APP_BASE_URL,
        DISPATCHER_POLL_SECONDS="0.1",
    )
    worker = await asyncio.create_subprocess_exec(
        str(BIN / "scheduling-service"),
        "worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:

        async def received() -> Received | None:
            assert worker.returncode is None, "the worker exited"
            return smtp.received[0] if smtp.received else None

        message = await eventually(received, "the worker to send the alert", seconds=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(worker.communicate(), timeout=10))[0].decode()

    assert worker.returncode == 0, output
    assert message.recipients == ["ada@acme.example"]
    assert orphan_id in message.text
    assert "outbox worker stopped" in output
    assert len(smtp.received) == 1
