"""Async SQLAlchemy engine and per-request sessions, portable between Postgres and SQLite."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypedDict

from fastapi import Depends, Request
from sqlalchemy import DateTime, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.types import TypeDecorator

from shared.openapi import reaches_database
from shared.settings import DatabaseSettings
from shared.tracing import Tracing

# Plain driver names are accepted from operators and mapped to the async drivers we ship.
_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def async_database_url(database_url: str) -> URL:
    """`postgresql://…` and `sqlite:///…` become their async-driver forms; others pass."""
    url = make_url(database_url)
    driver = _ASYNC_DRIVERS.get(url.drivername)
    return url.set(drivername=driver) if driver else url


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def ensure_sqlite_directory(url: URL) -> None:
    """SQLite creates the file but not its folder (`./var/` on a fresh clone)."""
    if is_sqlite(url) and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_connection_setup(busy_timeout_seconds: float) -> Callable[[Any, Any], None]:
    def configure(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers proceed during a write; foreign keys are off unless asked for.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # How long to wait for another transaction's lock before "database is locked" (503).
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        cursor.close()
        # The driver would begin transactions late (at the first write), after their reads;
        # `_begin_immediately` begins them itself.
        dbapi_connection.isolation_level = None

    return configure


def _begin_immediately(connection: Any) -> None:
    """SQLite: every transaction takes the write lock at its start, so that transactions run
    one after another and what one reads cannot change before it writes: the guarantees the
    code gets from row locks and conditional updates on Postgres."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: DatabaseSettings, tracing: Tracing | None = None) -> AsyncEngine:
    """The service's engine; while tracing is on, every statement it runs is a span."""
    engine = _create_engine(settings)
    if tracing is not None:
        trace_statements(engine, tracing)
    return engine


def trace_statements(engine: AsyncEngine, tracing: Tracing) -> None:
    """A CLIENT span for every statement of a sampled trace the engine runs, with its text
    (`db.statement`: placeholders, never the parameters)."""
    # Imported here: the instrumentation adds over a MiB to every process that loads it.
    from shared.statement_spans import trace_sampled_statements

    trace_sampled_statements(engine.sync_engine, tracing.provider)


def _create_engine(settings: DatabaseSettings) -> AsyncEngine:
    url = async_database_url(settings.database_url)
    if is_sqlite(url):
        ensure_sqlite_directory(url)
        engine = create_async_engine(url)
        setup = _sqlite_connection_setup(settings.database_command_timeout_seconds)
        event.listen(engine.sync_engine, "connect", setup)
        event.listen(engine.sync_engine, "begin", _begin_immediately)
        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        # No `pool_pre_ping`: it costs three round trips (BEGIN, `;`, ROLLBACK) per checkout.
        # A connection the server closed (a restart, a terminated backend) is known closed
        # without asking; see `_discard_if_closed`. A failure on a connection that broke
        # silently invalidates the whole pool, so the service recovers by itself either way.
        connect_args=_timeouts(url, settings),
    )
    event.listen(engine.sync_engine.pool, "checkout", _discard_if_closed)
    event.listen(engine.sync_engine.pool, "invalidate", _drop_at_once)
    return engine


def _discard_if_closed(
    _: Any, connection_record: ConnectionPoolEntry, __: PoolProxiedConnection
) -> None:
    """A pooled connection whose socket the server closed is replaced at checkout, without a
    round trip: the driver saw the close when it happened (asyncpg's `is_closed`)."""
    is_closed = getattr(connection_record.driver_connection, "is_closed", None)
    if is_closed is not None and is_closed():
        # The pool discards the connection and checks out another (or opens a new one).
        raise DisconnectionError("the server closed the connection")


def _drop_at_once(_: Any, connection_record: ConnectionPoolEntry, __: BaseException | None) -> None:
    """An invalidated connection (broken, or its statement timed out) is dropped without a
    word to the server. SQLAlchemy's asyncpg adaptation would first close it politely,
    waiting up to 2 s for a server that may never answer: on a hung database every 503 would
    come that much later than the command timeout. The server ends a statement it is still
    running by its own `statement_timeout` (see `_timeouts`)."""
    terminate = getattr(connection_record.driver_connection, "terminate", None)
    if terminate is not None:
        terminate()  # asyncpg's: the socket closes now; the polite close finds nothing to do.


def _timeouts(url: URL, settings: DatabaseSettings) -> dict[str, Any]:
    if url.get_driver_name() != "asyncpg":
        return {}  # another driver gets its defaults
    return asyncpg_connect_arguments(settings)


def asyncpg_connect_arguments(settings: DatabaseSettings) -> dict[str, Any]:
    """Bounds on connecting and on every statement: a hung server fails fast (then 503)
    instead of holding requests."""
    command_timeout = settings.database_command_timeout_seconds
    return {
        "timeout": settings.database_connect_timeout_seconds,
        "command_timeout": command_timeout,
        # The same bound on the server, which stops a statement nobody waits for any more
        # (the client drops a connection that timed out without cancelling its statement).
        "server_settings": {"statement_timeout": str(math.ceil(command_timeout * 1000))},
    }


def dialect_insert(dialect: Dialect, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with `ON CONFLICT` (an upsert), in the dialect's own spelling: Postgres and
    SQLite spell it the same way, and there is no portable one."""
    if dialect.name == "postgresql":
        return postgresql.insert(table)
    if dialect.name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"an upsert needs Postgres or SQLite, not {dialect.name}")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def autocommit_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, without transactions on Postgres: a read made of one statement sees a
    consistent snapshot by itself and needs neither BEGIN nor ROLLBACK (two round trips).
    SQLite keeps its transactions, which are what orders its readers and writers."""
    if is_sqlite(engine.url):
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


class DatabaseState(TypedDict):
    """What a service that works with sessions holds (`DatabaseSession` reads it)."""

    sessionmaker: async_sessionmaker[AsyncSession]


@asynccontextmanager
async def open_database(
    settings: DatabaseSettings, tracing: Tracing | None = None
) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """The engine and its sessionmaker, for the span of the block (a lifespan's)."""
    engine = create_engine(settings, tracing)
    try:
        yield engine, create_sessionmaker(engine)
    finally:
        await engine.dispose()


@reaches_database
async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    state: DatabaseState = request.scope["state"]
    async with state["sessionmaker"]() as session:
        yield session


# A handler's session; the handler opens the use case's one transaction with `session.begin()`.
# It closes when the handler returns, before the response goes out: the connection is back in
# the pool while the client reads, and a failure while closing still gets its error response.
DatabaseSession = Annotated[AsyncSession, Depends(_session, scope="function")]


async def check_database(engine: AsyncEngine) -> None:
    """Readiness: the database answers a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores none of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# Deterministic constraint names, so that migrations can name what they alter or drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
