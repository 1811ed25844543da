"""The order service's data access: every statement it runs, and the connection each runs on.

A use case says what it needs: `reading()` for an answer read with one statement, or
`writing()` for a transaction. The store decides what that takes on the database at hand: on
Postgres a one-statement read runs outside any transaction (one statement is one snapshot,
and BEGIN and ROLLBACK would be two more round trips), and statements run on the driver's
connection, compiled once (`store/sql.py`); on SQLite they run through SQLAlchemy, and every
transaction takes the write lock at its start (`shared.database`). The pool is SQLAlchemy's
either way, with its limits, timeouts and its care of broken connections. The statements
themselves live beside this module, one module per table, each built once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from order_service.store.sql import (
    Connection,
    PostgresConnection,
    SQLAlchemyConnection,
    query,
)
from shared.database import is_sqlite
from shared.database_outage import DatabaseUnavailable, is_database_unavailable
from shared.tracing import Tracing

__all__ = ["Connection", "Store"]

_SELECT_ONE = query(text("SELECT 1"))


class Store:
    def __init__(self, engine: AsyncEngine, tracing: Tracing | None = None) -> None:
        """The store on `engine`; while `tracing` is on, its statements are spans (the
        engine's own are, on SQLite: `shared.database.create_engine`)."""
        self.engine = engine
        self._runs_sqlalchemy = is_sqlite(engine.url)
        self._postgres: Callable[[Any], PostgresConnection] = PostgresConnection
        if tracing is not None:
            self._postgres = _traced_connections(engine, tracing)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        """A connection for one statement, which sees one snapshot by itself."""
        async with self.engine.connect() as connection:
            if self._runs_sqlalchemy:
                yield SQLAlchemyConnection(connection)
                return
            async with _failing_soundly(connection):
                yield self._postgres(_driver(connection))

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[Connection]:
        """A connection in a transaction that commits when the block ends (rolls back if it
        raises); the connection goes back to the pool before the response goes out."""
        if self._runs_sqlalchemy:
            async with self.engine.begin() as connection:
                yield SQLAlchemyConnection(connection)
            return
        async with self.engine.connect() as connection, _failing_soundly(connection):
            driver = _driver(connection)
            async with driver.transaction():
                yield self._postgres(driver)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_: object) -> None:
        """Close the pool's connections."""
        await self.engine.dispose()

    async def check(self) -> None:
        """Readiness: the database answers a trivial query."""
        async with self.reading() as connection:
            await connection.fetchval(_SELECT_ONE)


def _traced_connections(
    engine: AsyncEngine, tracing: Tracing
) -> Callable[[Any], PostgresConnection]:
    # Imported here, as the tracing it serves: a store that does not trace never needs it.
    from order_service.store.statement_spans import StatementSpans, TracedPostgresConnection

    spans = StatementSpans(tracing.tracer(__name__), engine.url)
    return lambda driver: TracedPostgresConnection(driver, spans)


def _driver(connection: AsyncConnection) -> Any:
    """The asyncpg connection under a pooled SQLAlchemy one (checked out already: no I/O)."""
    return connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]


@asynccontextmanager
async def _failing_soundly(connection: AsyncConnection) -> AsyncIterator[None]:
    """A failure that says the database is away leaves no broken connection in the pool
    (SQLAlchemy would see to that for the statements it runs itself), and is raised as
    `DatabaseUnavailable`: the service answers it with a 503."""
    try:
        yield
    except DatabaseUnavailable:
        raise
    except Exception as error:
        if not (is_database_unavailable(error) or _driver_is_closed(connection)):
            raise
        await connection.invalidate()
        raise DatabaseUnavailable from error


def _driver_is_closed(connection: AsyncConnection) -> bool:
    is_closed = getattr(_driver(connection), "is_closed", None)
    return bool(is_closed is not None and is_closed())
