"""Fixtures: a real PostgreSQL (embedded unless DATABASE_URL is set), the app, tokens, the
common test objects, and the fake servers the app talks to. Each is defined here once."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from scheduling_service.app import create_app
from scheduling_service.auth import Role, issue_token
from scheduling_service.config import Settings
from scheduling_service.db import SessionMaker
from scheduling_service.embedded import start_embedded_postgres
from scheduling_service.migrations import upgrade_to_head
from scheduling_service.models import Base
from tests.factories import create_cohort, create_org
from tests.fake_calcom_api import FakeCalcomServer
from tests.mail import SmtpServer
from tests.server import JWT_SECRET
from tests.wire import WireChecks

ROOT = Path(__file__).resolve().parents[1]


async def _execute_autocommit(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


def _progress(request: pytest.FixtureRequest, step: str) -> None:
    """The long steps of a first `make test` each say so, between the test dots."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    with capture.global_and_fixture_disabled():
        terminal.write_line(f"== {step}")


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database for this run, migrated to head, dropped afterwards."""
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        _progress(request, "starting PostgreSQL (embedded, data in .data/test-postgres)")
        server_url = start_embedded_postgres(ROOT / ".data" / "test-postgres")
    name = f"scheduling_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute_autocommit(server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    _progress(request, f"migrating the test database {name}")
    upgrade_to_head(url)
    yield url
    asyncio.run(_execute_autocommit(server_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """An empty, unmigrated database on the suite's server, dropped afterwards."""
    server = make_url(database_url).set(database="postgres")
    server_url = server.render_as_string(hide_password=False)
    name = f"scheduling_fresh_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute_autocommit(server_url, f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    asyncio.run(_execute_autocommit(server_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        public_base_url="https://scheduling.test",
        journal_dir=tmp_path / "journal",
        secrets_key_file=tmp_path / "secrets.key",
        # Tests drive recovery themselves, so background passes never race their assertions.
        run_recovery=False,
        # Likewise the outbox: tests/notifications dispatch it themselves, or opt in.
        run_dispatcher=False,
        # And reconciliation: tests/reconciliation runs it on demand.
        run_reconciler=False,
        # A Cal.com API that cannot be reached fails at once (tests/reconciliation/test_client.py
        # covers the retries).
        calcom_api_max_attempts=1,
        # Each test starts an app: the freeze's full collection would cost more than the test.
        gc_freeze=False,
    )
    if _rolls_back(request.node):
        # Its sessions share one connection, which the secret cache's periodic refresh must
        # not use in the middle of a request (tests call `refresh()` themselves).
        return settings.model_copy(update={"webhook_secrets_refresh_seconds": 3600.0})
    return settings


# Test isolation. A test whose app works only through its sessionmakers runs inside one
# outer transaction that is rolled back at its end: the app's sessions join it as savepoints
# (`join_transaction_mode="create_savepoint"`), so what they commit is seen by the test and
# gone afterwards. A test that needs real commits (concurrent requests or several
# connections, a server process, its own engine reading what the app wrote) is marked
# `commits` (pyproject.toml): it starts from empty tables instead.
TABLES = ", ".join(table.name for table in Base.metadata.sorted_tables)


class _Leftovers:
    """Whether a test may have committed rows that a rolled-back test would see."""

    possible = True


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "database_url" in item.fixturenames and not _rolls_back(item):
        _Leftovers.possible = True


def _rolls_back(item: pytest.Item) -> bool:
    return "app" in item.fixturenames and item.get_closest_marker("commits") is None


@pytest.fixture(scope="session")
async def shared_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The suite's own connections to the test database: outer transactions and TRUNCATE."""
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


async def _truncate_all(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {TABLES} CASCADE"))


@pytest.fixture
async def app(
    request: pytest.FixtureRequest,
    settings: Settings,
    database_url: str,
    shared_engine: AsyncEngine,
) -> AsyncIterator[FastAPI]:
    if not _rolls_back(request.node):
        await _truncate_all(shared_engine)
        application = create_app(settings, database_url)
        async with LifespanManager(application):
            yield application
        return
    if _Leftovers.possible:
        await _truncate_all(shared_engine)
        _Leftovers.possible = False
    async with shared_engine.connect() as connection:
        outer = await connection.begin()
        application = create_app(settings, database_url)
        async with LifespanManager(application):
            # The API's sessions, the webhook's (its intake and secret cache share one), and
            # the deliveries' own transactions.
            for sessionmaker in (
                application.state.sessionmaker,
                application.state.intake.sessionmaker,
            ):
                sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")
            application.state.intake.transactions.join(connection)
            yield application
        try:
            await outer.rollback()
        except Exception:
            # A test that broke it (a failing one): the next test gets another connection.
            await connection.invalidate()
            raise


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    # Every answer is held to what the document promises of all answers (tests/wire.py).
    checks = WireChecks(app.openapi())
    async with AsyncClient(
        transport=ASGITransport(app=app),
        base_url="http://test",
        event_hooks={"response": [checks]},
    ) as c:
        yield c


class Tokens:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __call__(
        self, role: Role | str, org_id: uuid.UUID | str | None = None, sub: str = "tester"
    ) -> dict[str, str]:
        token = issue_token(
            self.settings,
            role=Role(role),
            organization_id=uuid.UUID(str(org_id)) if org_id else None,
            subject=sub,
            ttl=timedelta(minutes=30),
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(settings: Settings) -> Tokens:
    return Tokens(settings)


Json = dict[str, Any]


@pytest.fixture
async def org(client: AsyncClient, tokens: Tokens) -> Json:
    return await create_org(client, tokens)


@pytest.fixture
async def cohort(client: AsyncClient, tokens: Tokens, org: Json) -> Json:
    return await create_cohort(client, tokens, org["id"])


@pytest.fixture
def sessionmaker(app: FastAPI) -> SessionMaker:
    maker: SessionMaker = app.state.sessionmaker
    return maker


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_calcom() -> Iterator[FakeCalcomServer]:
    with FakeCalcomServer() as server:
        yield server
