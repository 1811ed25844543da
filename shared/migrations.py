"""Alembic, driven from code: each service's `migrations/env.py` calls `run_env`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.database import async_database_url, ensure_sqlite_directory, is_sqlite


def alembic_config(script_location: Path, database_url: str, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # Passed as attributes, not options: ConfigParser would choke on `%` in a password.
    config.attributes["database_url"] = database_url
    config.attributes["version_table"] = version_table
    return config


def upgrade_to_head(script_location: Path, database_url: str, version_table: str) -> None:
    """Apply every pending migration. Blocking: call it from a thread inside async code."""
    command.upgrade(alembic_config(script_location, database_url, version_table), "head")


def run_env(target_metadata: MetaData) -> None:
    """The body of a service's `env.py`: online against the configured database."""
    attributes = context.config.attributes
    url = async_database_url(attributes["database_url"])
    options = {
        "target_metadata": target_metadata,
        # Each service names its own version table, so services could even share a database.
        "version_table": attributes["version_table"],
        # SQLite alters tables by copying them; batch mode does that for us.
        "render_as_batch": is_sqlite(url),
        "compare_type": True,
    }

    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run_on(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_online() -> None:
        ensure_sqlite_directory(url)
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run_on)
        finally:
            await engine.dispose()

    asyncio.run(run_online())
