from __future__ import annotations

from order_service.__main__ import VERSION_TABLE
from order_service.models import Base
from tests.support.database import schema_drift


async def test_migrations_create_exactly_the_tables_the_models_declare(
    orders_database_url: str,
) -> None:
    assert await schema_drift(orders_database_url, Base.metadata, VERSION_TABLE) == []
