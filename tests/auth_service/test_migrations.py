from __future__ import annotations

from auth_service.__main__ import VERSION_TABLE
from auth_service.models import Base
from tests.support.database import schema_drift


async def test_migrations_create_exactly_the_tables_the_models_declare(
    auth_database_url: str,
) -> None:
    assert await schema_drift(auth_database_url, Base.metadata, VERSION_TABLE) == []
