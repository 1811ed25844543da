"""The order service's data access: every statement it runs, and the connection each runs on.

A use case says what it needs: `reading()` for an answer read with one statement, or
`writing()` for a transaction. The store decides what that takes on the database at hand:
on Postgres a one-statement read needs no transaction (one statement is one snapshot, and
BEGIN and ROLLBACK would be two more round trips); on SQLite every transaction takes the
write lock at its start (`shared.database`). The statements themselves live beside this
module, one module per table, each built once.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.database import autocommit_engine

# What a use case holds while it works: it passes it to the statements' functions, and
# never uses it itself.
Connection = AsyncConnection


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._read_engine = autocommit_engine(engine)

    def reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for one statement, which sees one snapshot by itself."""
        return self._read_engine.connect()

    def writing(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection in a transaction that commits when the block ends (rolls back if it
        raises); the connection goes back to the pool before the response goes out."""
        return self.engine.begin()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_: object) -> None:
        """Close the pool's connections."""
        await self.engine.dispose()

    async def check(self) -> None:
        """Readiness: the database answers a trivial query."""
        async with self.reading() as connection:
            await connection.execute(text("SELECT 1"))
