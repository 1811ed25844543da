"""The store's pool on Postgres (asyncpg's own): the service's bounds, connections handed back
as they came, and an outage raised as one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from order_service.config import OrdersSettings
from order_service.store import Store
from order_service.store.sql import query
from shared.database import create_engine
from shared.database_outage import DatabaseUnavailable

_BACKEND = query(text("SELECT pg_backend_pid()"))
_TRANSACTION = query(text("SELECT pg_current_xact_id()"))
_AN_ORDER = query(text("SELECT json_build_object('id', 1, 'lines', json_build_array(2, 3))"))


@pytest.fixture
def settings(postgres_orders_database_url: str) -> OrdersSettings:
    return OrdersSettings(
        database_url=postgres_orders_database_url,
        database_pool_size=1,
        database_max_overflow=1,
        database_pool_timeout_seconds=0.2,
    )


@pytest.fixture
async def store(settings: OrdersSettings) -> AsyncIterator[Store]:
    async with Store(create_engine(settings), settings=settings) as store:
        yield store


async def test_a_connection_is_used_again_not_a_new_one_each_time(store: Store) -> None:
    async with store.reading() as connection:
        first = await connection.fetchval(_BACKEND)
    for _ in range(3):
        async with store.writing() as connection:
            assert await connection.fetchval(_BACKEND) == first


async def test_no_more_connections_than_the_pool_and_its_overflow_allow(store: Store) -> None:
    async with store.reading() as first, store.reading() as second:
        assert await first.fetchval(_BACKEND) != await second.fetchval(_BACKEND)
        with pytest.raises(DatabaseUnavailable):
            async with store.reading():
                pass
    async with store.reading() as connection:  # one came back: it is handed out again
        assert await connection.fetchval(_BACKEND)


async def test_a_connection_a_cancelled_request_left_in_a_transaction_comes_back_out_of_it(
    store: Store,
) -> None:
    started = asyncio.Event()

    async def interrupted() -> None:
        async with store.reading() as connection:
            await connection.execute(query(text("BEGIN")))
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(interrupted())
    async with asyncio.timeout(10):
        await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async with store.reading() as first, store.reading() as second:
        for connection in (first, second):
            # Outside a transaction, each statement is a transaction of its own.
            assert await connection.fetchval(_TRANSACTION) != await connection.fetchval(
                _TRANSACTION
            )


async def test_json_is_read_as_python_values(store: Store) -> None:
    async with store.reading() as connection:
        assert await connection.fetchval(_AN_ORDER) == {"id": 1, "lines": [2, 3]}


async def test_a_connection_the_server_ends_is_an_outage_and_replaced_after_it(
    store: Store,
) -> None:
    async with store.reading() as connection:
        backend = await connection.fetchval(_BACKEND)
    with pytest.raises(DatabaseUnavailable):
        async with store.reading() as connection:
            await connection.fetchval(query(text("SELECT pg_terminate_backend(pg_backend_pid())")))
    async with store.reading() as connection:
        assert await connection.fetchval(_BACKEND) != backend
