"""Readiness: a load balancer sends traffic only where the database answers and is current."""

import asyncio

from alembic import command
from alembic.script import ScriptDirectory
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from scheduling_service.app import create_app
from scheduling_service.config import Settings
from scheduling_service.migrations import alembic_config


async def readiness(settings: Settings, database_url: str) -> tuple[int, dict[str, str]]:
    app = create_app(settings, database_url)
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        response = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200
    return response.status_code, response.json()


async def test_ready_when_database_answers_and_is_migrated(
    settings: Settings, database_url: str
) -> None:
    assert await readiness(settings, database_url) == (
        200,
        {"status": "ok", "database": "ok", "migrations": "current"},
    )


async def test_not_ready_when_database_is_unreachable(settings: Settings, tmp_path: str) -> None:
    # A Unix socket directory where no PostgreSQL listens: connecting fails at once.
    unreachable = f"postgresql+asyncpg://postgres@/postgres?host={tmp_path}"

    status, body = await readiness(settings, unreachable)

    assert status == 503
    assert body == {"status": "unavailable", "database": "unreachable", "migrations": "unknown"}


async def test_not_ready_when_migrations_are_behind(
    settings: Settings, fresh_database: str
) -> None:
    config = alembic_config(fresh_database)
    script = ScriptDirectory.from_config(config)
    head = script.get_revision(script.get_current_head())
    assert head is not None
    assert isinstance(head.down_revision, str)
    await asyncio.to_thread(command.upgrade, config, head.down_revision)

    status, body = await readiness(settings, fresh_database)

    assert status == 503
    assert body == {
        "status": "unavailable",
        "database": "ok",
        "migrations": f"at {head.down_revision}",
    }


async def test_not_ready_when_never_migrated(settings: Settings, fresh_database: str) -> None:
    status, body = await readiness(settings, fresh_database)

    assert status == 503
    assert body == {"status": "unavailable", "database": "ok", "migrations": "none applied"}
