"""On Postgres, the store's connections come from asyncpg's own pool.

It is what the statements run on anyway (`store/sql.py`), and a checkout costs a third of
SQLAlchemy's (which wraps asyncpg in a greenlet bridge, pool events and two connection
objects). It hands out the connection returned last (the other backends stay idle), keeps
the service's bounds (`DatabaseSettings`: size, waiting for a connection, connecting, every
statement), and reconnects by itself a connection the server closed.

A connection goes back without asyncpg's reset (four statements, one more round trip per
request): the store leaves nothing on a connection but its transactions, and asyncpg rolls
back one that a cancelled request left open.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import asyncpg_connect_arguments
from shared.database_outage import DatabaseUnavailable, is_database_unavailable
from shared.settings import DatabaseSettings

# What SQLAlchemy's asyncpg dialect takes from a URL for itself, not for `asyncpg.connect`.
_SQLALCHEMY_ONLY = frozenset(
    {"prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn"}
)


class DriverPool:
    """Opened at its first use (a store that never reaches Postgres never connects)."""

    def __init__(self, engine: AsyncEngine, settings: DatabaseSettings) -> None:
        """A pool to `engine`'s database, reached as the engine reaches it (its URL's host,
        credentials, TLS and so on)."""
        _, reached_as = engine.dialect.create_connect_args(engine.url)
        self._options: dict[str, Any] = {
            **{k: v for k, v in reached_as.items() if k not in _SQLALCHEMY_ONLY},
            "min_size": 0,
            "max_size": settings.database_pool_size + settings.database_max_overflow,
            "reset": _nothing_to_reset,
            "init": _decode_json,
            **asyncpg_connect_arguments(settings),
        }
        self._acquire_timeout = settings.database_pool_timeout_seconds
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A connection of the pool until the block ends. A failure that says the database
        is away is raised as `DatabaseUnavailable` (the service answers 503); it drops its
        connection at once and retires the others as they come back, so the pool starts
        afresh when the database returns."""
        pool = self._pool or await self._open()
        # Bounded only when there may be a wait: a timeout costs a timer on every checkout.
        timeout = None if pool.get_idle_size() else self._acquire_timeout
        broken = False
        try:
            async with pool.acquire(timeout=timeout) as connection:
                try:
                    yield connection
                except Exception as error:
                    broken = is_database_unavailable(error) or connection.is_closed()
                    if broken:
                        # Not closed politely: a hung server would hold the request longer.
                        connection.terminate()
                    raise
        except DatabaseUnavailable:
            raise
        except Exception as error:
            if not (broken or is_database_unavailable(error)):
                raise
            await pool.expire_connections()
            raise DatabaseUnavailable from error

    async def close(self) -> None:
        """Close every connection now (nothing runs on them any more)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(**self._options)
        return self._pool


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    return None


async def _decode_json(connection: asyncpg.Connection) -> None:
    """JSON columns read as Python values, as through SQLAlchemy; they are written as the
    text the statements' parameters already are (`store/sql.py`)."""
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, schema="pg_catalog", encoder=str, decoder=json.loads, format="text"
        )
