from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from order_service.__main__ import MIGRATIONS, VERSION_TABLE
from order_service.models import Base
from shared.database import create_engine
from shared.migrations import alembic_config, upgrade_to_head
from shared.settings import DatabaseSettings
from tests.support.database import schema_drift


async def test_migrations_create_exactly_the_tables_the_models_declare(
    orders_database_url: str,
) -> None:
    assert await schema_drift(orders_database_url, Base.metadata, VERSION_TABLE) == []


async def _secondary_indexes(database_url: str, table: str) -> list[str]:
    engine = create_engine(DatabaseSettings(database_url=database_url))

    def names(connection: Connection) -> list[str]:
        return sorted(str(index["name"]) for index in inspect(connection).get_indexes(table))

    try:
        async with engine.connect() as connection:
            return await connection.run_sync(names)
    finally:
        await engine.dispose()


async def test_order_lines_are_indexed_by_their_order_alone(orders_database_url: str) -> None:
    """Lines are read by their order (the primary key): an index by product would cost every
    line of every order an insertion into a random leaf, for no query."""
    assert await _secondary_indexes(orders_database_url, "order_lines") == []


async def test_the_index_by_product_comes_back_on_downgrade_and_goes_again(
    postgres_orders_database_url: str,
) -> None:
    url = postgres_orders_database_url
    config = alembic_config(MIGRATIONS, url, VERSION_TABLE)
    await asyncio.to_thread(command.downgrade, config, "0006")
    assert await _secondary_indexes(url, "order_lines") == ["ix_order_lines_product_id"]
    await asyncio.to_thread(upgrade_to_head, MIGRATIONS, url, VERSION_TABLE)
    assert await _secondary_indexes(url, "order_lines") == []
