import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from scheduling_service.migrations import upgrade_to_head
from tests.conftest import ROOT, _execute_autocommit
from tests.faults.harness import FaultPostgres
from tests.server import ServiceProcess, start_service


@pytest.fixture(scope="module")
def postgres() -> Iterator[FaultPostgres]:
    data_dir = ROOT / ".data" / f"faults-{uuid.uuid4().hex[:8]}"
    server = FaultPostgres(data_dir)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def database_url(postgres: FaultPostgres) -> str:
    """A fresh, migrated database on the suite's own server, for each scenario."""
    name = f"faults_{uuid.uuid4().hex[:8]}"
    asyncio.run(_execute_autocommit(postgres.server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(postgres.server_url).set(database=name).render_as_string(hide_password=False)
    upgrade_to_head(url)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_pre_ping=True)
    yield engine
    await engine.dispose()


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[ServiceProcess]:
    with start_service(
        database_url,
        tmp_path,
        RECOVERY_POLL_SECONDS="0.2",
        WEBHOOK_RETRY_BASE_SECONDS="0.2",
        RUN_DISPATCHER="false",
    ) as process:
        yield process


@pytest.fixture
async def http(service: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        yield client
