"""Direct database access for tests that check what the services stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from shared.database import create_engine, create_sessionmaker
from shared.settings import DatabaseSettings


@asynccontextmanager
async def session_on(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(DatabaseSettings(database_url=database_url))
    try:
        async with create_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def schema_drift(database_url: str, metadata: MetaData, version_table: str) -> list[Any]:
    """What the models declare that the migrated database lacks, or the other way round."""
    engine = create_engine(DatabaseSettings(database_url=database_url))

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": version_table}
        )
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()
