"""SQLite (the `make run` database) held by another writer: 503, not a hang or a 500."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url

from order_service.app import create_app
from order_service.config import OrdersSettings
from tests.support.apps import app_client
from tests.support.tokens import AUDIENCE, ISSUER


@contextmanager
def write_locked(database_url: str) -> Iterator[None]:
    """Another process's transaction holding SQLite's write lock."""
    connection = sqlite3.connect(str(make_url(database_url).database), isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


async def test_a_database_locked_by_another_writer_answers_503_then_recovers(
    sqlite_orders_database_url: str, jwks_url: str, admin: dict[str, str]
) -> None:
    settings = OrdersSettings(
        database_url=sqlite_orders_database_url,
        jwks_url=jwks_url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        database_command_timeout_seconds=0.2,
    )
    async with app_client(create_app(settings), "http://orders.test") as client:
        with write_locked(sqlite_orders_database_url):
            locked = await client.get("/products", headers=admin)
        after = await client.get("/products", headers=admin)

    assert locked.status_code == 503
    assert locked.headers["content-type"] == "application/problem+json"
    assert locked.headers["retry-after"]
    assert after.status_code == 200
