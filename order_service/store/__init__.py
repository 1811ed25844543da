"""The order service's data access: every statement it runs, and the connection each runs on.

A use case says what it needs: `reading()` for an answer read with one statement, or
`writing()` for a transaction. The store decides what that takes on the database at hand: on
Postgres a one-statement read runs outside any transaction (one statement is one snapshot,
and BEGIN and ROLLBACK would be two more round trips), and statements run compiled once
(`store/sql.py`) on connections of asyncpg's own pool (`store/driver_pool.py`); on SQLite
they run through SQLAlchemy's engine and its pool, and every transaction takes the write lock
at its start (`shared.database`). The statements themselves live beside this module, one
module per table, each built once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from order_service.store.driver_pool import DriverPool
from order_service.store.sql import (
    Connection,
    PostgresConnection,
    SQLAlchemyConnection,
    query,
)
from shared.database import is_sqlite
from shared.settings import DatabaseSettings
from shared.tracing import Tracing

__all__ = ["Connection", "Store"]

_SELECT_ONE = query(text("SELECT 1"))


class Store:
    def __init__(
        self,
        engine: AsyncEngine,
        tracing: Tracing | None = None,
        *,
        settings: DatabaseSettings | None = None,
    ) -> None:
        """The store on `engine`'s database; while `tracing` is on, its statements are spans
        (the engine's own are, on SQLite: `shared.database.create_engine`). On Postgres,
        `settings` bound the driver's pool (their defaults unless given)."""
        self.engine = engine
        self._driver_pool: DriverPool | None = None
        if not is_sqlite(engine.url):
            bounds = settings or DatabaseSettings.model_construct(database_url="")
            self._driver_pool = DriverPool(engine, bounds)
        self._postgres: Callable[[Any], PostgresConnection] = PostgresConnection
        if tracing is not None:
            self._postgres = _traced_connections(engine, tracing)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        """A connection for one statement, which sees one snapshot by itself."""
        if self._driver_pool is None:
            async with self.engine.connect() as connection:
                yield SQLAlchemyConnection(connection)
            return
        async with self._driver_pool.connection() as driver:
            yield self._postgres(driver)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[Connection]:
        """A connection in a transaction that commits when the block ends (rolls back if it
        raises); the connection goes back to the pool before the response goes out."""
        if self._driver_pool is None:
            async with self.engine.begin() as connection:
                yield SQLAlchemyConnection(connection)
            return
        async with self._driver_pool.connection() as driver, driver.transaction():
            yield self._postgres(driver)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_: object) -> None:
        """Close the pools' connections."""
        if self._driver_pool is not None:
            await self._driver_pool.close()
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
