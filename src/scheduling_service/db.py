import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, Any, TypeVar

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import event, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from scheduling_service import driver
from scheduling_service.config import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

SessionMaker = async_sessionmaker[AsyncSession]


# A pooled connection idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    """The pool of the API and the alert dispatcher: each statement on it is cancelled after
    `api_statement_timeout_ms` (set once per connection, so it costs no round trip)."""
    return _engine(
        url,
        settings,
        settings.database_pool_size,
        {"statement_timeout": str(settings.api_statement_timeout_ms)},
    )


def create_webhook_engine(url: str, settings: Settings) -> AsyncEngine:
    """The pool of Cal.com's deliveries (and of draining and retrying them) alone: no API
    request can hold one of its connections, however many are in flight or however slow."""
    return _engine(url, settings, settings.database_webhook_pool_size, {})


def _engine(
    url: str, settings: Settings, pool_size: int, server_settings: dict[str, str]
) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        pool_timeout=settings.database_pool_timeout_seconds,
        max_overflow=0,
        # Statement parameters (a webhook's raw body, emails) stay out of logged errors.
        hide_parameters=True,
        connect_args={"server_settings": server_settings},
    )
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Ping a connection before use only when it sat idle: a server restart is then noticed
    before a request is spent on it, as `pool_pre_ping` would, without the three round trips
    asyncpg's ping costs (BEGIN, a query, ROLLBACK) on every checkout of a busy pool.

    A connection the server closed while it sat in the pool is replaced whatever its idle
    time (asyncpg knows it closed, at no cost). One that breaks while in use fails its
    statement instead; SQLAlchemy then recycles every connection of the pool opened before
    it, and a webhook delivery that hit it is kept in the journal (see
    `webhooks.service.ingest`).
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def idle_from(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            # The server ended it (asyncpg saw the socket close), however recently it was
            # used: after an outage every pooled connection is so, and none may fail a request.
            raise DisconnectionError("the server closed a pooled connection")
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool discards this connection and hands out another (a new one if need be).
            raise DisconnectionError("a pooled connection did not answer its ping") from error


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


def _unreachable_state(state: str) -> bool:
    # Class 08: connection exceptions; 57P01-57P03: the server is shutting down or starting.
    return state.startswith("08") or state in {"57P01", "57P02", "57P03"}


# query_canceled: here, a statement that ran past its `statement_timeout`.
STATEMENT_TIMEOUT_SQLSTATE = "57014"


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error` means PostgreSQL cannot be reached now, rather than a refused statement.

    The whole chain is read: SQLAlchemy wraps the driver's errors, and its asyncpg adapter
    raises its own DBAPI errors (not SQLAlchemy's) for a transaction begun on the raw
    connection (`driver`), with asyncpg's error as their cause.
    """
    for cause in _causes(error):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, _UNREACHABLE):
            return True
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and _unreachable_state(state):
            return True
    return False


def connection_failure(error: BaseException, url: str) -> str | None:
    """What a person must fix when connecting to `url` failed with `error`: one sentence, or
    None when `error` is not about reaching the server, logging in, or finding the database."""
    target = make_url(url)
    where = (
        f"{target.host}:{target.port or 5432}"
        if target.host
        else str(target.query.get("host", "the local socket"))
    )
    for cause in _causes(error):
        if isinstance(cause, socket.gaierror):
            return (
                f"cannot resolve {target.host}, the host in DATABASE_URL ({cause.strerror}): "
                "check its spelling"
            )
        if isinstance(cause, (OSError, TimeoutError)) and not isinstance(cause, FileNotFoundError):
            reason = cause.strerror or str(cause) or "no answer"
            return (
                f"cannot connect to PostgreSQL at {where} ({reason}): start it, or fix the host "
                "and port in DATABASE_URL"
            )
        if isinstance(cause, FileNotFoundError):
            return f"no PostgreSQL socket at {where}: start the server, or fix DATABASE_URL"
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            return (
                f'PostgreSQL at {where} has no database "{target.database}": create it '
                f"(createdb {target.database}), or fix the database name in DATABASE_URL"
            )
        if isinstance(cause, asyncpg.InvalidAuthorizationSpecificationError):
            return (
                f"PostgreSQL at {where} refused user {target.username}: {cause}; fix the user "
                "and password in DATABASE_URL"
            )
    return None


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what it wraps: SQLAlchemy's errors carry asyncpg's behind the DBAPI's."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


async def check_connection(url: str) -> None:
    """Connect once and ask PostgreSQL something; raises what connecting raised."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
    finally:
        await engine.dispose()


# Deadlock and serialization failures are resolved by running the whole transaction again.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


async def run_in_transaction(
    sessionmaker: SessionMaker,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    attempts: int = 3,
) -> T:
    """Run `work` in one transaction of its own, committed when it returns."""

    async def once() -> T:
        async with sessionmaker() as session, session.begin():
            return await work(session)

    return await _retrying(once, attempts)


class DeliveryTransactions:
    """Each delivery's transaction, on a connection of the webhook pool with no session
    around it (`driver.Transaction`); counts made in it are counted once it commits.

    The pool is the sessions' own: the same checkout (a closed connection replaced, an idle
    one pinged) and limits. A session's bookkeeping (its transaction, connection, commit and
    close, each a greenlet hop) cost a delivery more CPU than anything else above its
    statements (bench/RESULTS.md, issue 16).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._joined: AsyncConnection | None = None

    def join(self, connection: AsyncConnection) -> None:
        """Run every delivery in a savepoint of `connection`'s transaction instead, as a
        sessionmaker joins one (`join_transaction_mode`): the suite's rolled-back tests."""
        self._joined = connection

    async def run(
        self, work: Callable[[driver.Transaction], Awaitable[T]], *, attempts: int = 3
    ) -> T:
        """Run `work` in one transaction of its own, committed when it returns."""

        async def once() -> T:
            transaction, result = await self._once(work)
            for count in transaction.on_commit:
                count()
            return result

        return await _retrying(once, attempts)

    async def _once(
        self, work: Callable[[driver.Transaction], Awaitable[T]]
    ) -> tuple[driver.Transaction, T]:
        if self._joined is not None:
            async with self._joined.begin_nested():
                raw = await self._joined.get_raw_connection()
                assert raw.driver_connection is not None
                transaction = driver.Transaction(raw.driver_connection)
                return transaction, await work(transaction)
        pooled = await self.engine.raw_connection()
        connection = pooled.driver_connection
        assert connection is not None
        try:
            transaction = driver.Transaction(connection)
            async with connection.transaction():
                return transaction, await work(transaction)
        finally:
            if connection.is_in_transaction():
                # Interrupted (cancelled) before its rollback ended: closed, so the pool
                # hands out a new connection instead of one inside this transaction.
                connection.terminate()
            # Back to the pool; its reset has nothing to end, the transaction being asyncpg's.
            pooled.close()


async def _retrying(once: Callable[[], Awaitable[T]], attempts: int) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return await once()
        except (DBAPIError, asyncpg.PostgresError) as error:
            # SQLAlchemy's errors wrap asyncpg's; the statements sent to asyncpg directly
            # (`driver`) raise asyncpg's own.
            sqlstate = sqlstate_of(error) if isinstance(error, DBAPIError) else error.sqlstate
            if sqlstate not in _RETRYABLE_SQLSTATES or attempt == attempts:
                raise
            logger.warning("transaction retried after SQLSTATE %s", sqlstate)
    raise AssertionError("unreachable: the last attempt returns or raises")
