"""Applying the Alembic migrations from the code, and telling whether they are current."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


def _project_root() -> Path:
    """Where alembic.ini and migrations/ are: the source checkout (an editable install), else
    the working directory (the container image keeps them in its WORKDIR)."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "alembic.ini").exists() else Path.cwd()


PROJECT_ROOT = _project_root()


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Blocking: call it outside the event loop (it runs its own)."""
    command.upgrade(alembic_config(database_url), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def current_revision(connection: AsyncConnection) -> str | None:
    """None for a database never migrated (it has no alembic_version table yet)."""
    if not await connection.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL")):
        return None
    result = await connection.execute(text("SELECT version_num FROM alembic_version"))
    return result.scalar_one_or_none()
