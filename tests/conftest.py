"""Fixtures: a real PostgreSQL (embedded unless DATABASE_URL is set), the app, tokens."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from scheduling_service.app import create_app
from scheduling_service.auth import Role, issue_token
from scheduling_service.config import Settings
from scheduling_service.embedded import start_embedded_postgres
from scheduling_service.migrations import upgrade_to_head
from scheduling_service.models import Base
from tests.wire import WireChecks

ROOT = Path(__file__).resolve().parents[1]
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-keys"


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
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
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
    )


async def _truncate_all(url: str) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    await engine.dispose()


@pytest.fixture
async def app(settings: Settings, database_url: str) -> AsyncIterator[FastAPI]:
    # Tests commit for real (the webhook path owns its transactions and concurrency tests
    # need several connections), so isolation is a truncate before each test.
    await _truncate_all(database_url)
    application = create_app(settings, database_url)
    async with LifespanManager(application):
        yield application


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
