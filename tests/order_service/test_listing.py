"""Listing orders and products: one statement, and plans that need no sort."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from order_service.app import create_app
from order_service.config import OrdersSettings
from order_service.lifecycle import OrderStatus
from order_service.models import Product
from order_service.state import OrdersState
from order_service.store.orders import orders_page_query
from shared.pagination import newest_first_page
from tests.order_service.conftest import Catalogue, place_order
from tests.support.apps import running_app
from tests.support.database import session_on


@contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's transactions begin with a statement
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


@pytest.fixture
async def client_and_state(
    orders_settings: OrdersSettings,
) -> AsyncIterator[tuple[httpx.AsyncClient, OrdersState]]:
    async with running_app(create_app(orders_settings), "http://orders.test") as running:
        yield running


async def test_listing_orders_takes_one_statement_whatever_the_page_size(
    client_and_state: tuple[httpx.AsyncClient, OrdersState],
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    client, state = client_and_state
    catalogue = Catalogue(client, admin)
    products = [await catalogue.add(stock=100) for _ in range(3)]

    async def statements_to_list() -> int:
        with counting_statements(state["store"].engine) as statements:
            response = await client.get("/orders?limit=100", headers=alice)
        assert response.status_code == 200
        return len(statements)

    await place_order(client, alice, *((product, 1) for product in products))
    with_one = await statements_to_list()
    for _ in range(15):
        await place_order(client, alice, *((product, 1) for product in products))
    with_sixteen = await statements_to_list()

    # One statement: the orders and their lines are one snapshot (test_snapshots.py).
    assert with_one == with_sixteen == 1


async def explain(database_url: str, statement: Any) -> str:
    """Postgres's plan for `statement` with the alternatives to an ordered index scan priced
    out of reach: a Sort left in the plan means that no index can serve the query's order."""
    async with session_on(database_url) as session, session.begin():
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            await session.execute(text(f"SET LOCAL {setting} = off"))
        compiled = statement.compile(
            dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
        rows = await session.execute(text(f"EXPLAIN {compiled}"))
        return "\n".join(row[0] for row in rows)


USER_ID = uuid.uuid4()


BY_USER, BY_TIME, BY_STATUS = (
    "ix_orders_user_id_created_at_id",
    "ix_orders_created_at_id",
    "ix_orders_status_created_at_id",
)


@pytest.mark.parametrize(
    ("owner", "status", "indexes"),
    [
        (USER_ID, None, {BY_USER}),
        # Either index serves this order; which is cheaper depends on the data.
        (USER_ID, OrderStatus.PAID, {BY_USER, BY_STATUS}),
        (None, None, {BY_TIME}),
        (None, OrderStatus.PAID, {BY_STATUS}),
    ],
    ids=["one-user", "one-user-by-status", "everyone", "everyone-by-status"],
)
async def test_order_lists_are_served_by_an_index_without_sorting(
    postgres_orders_database_url: str,
    owner: uuid.UUID | None,
    status: OrderStatus | None,
    indexes: set[str],
) -> None:
    query = orders_page_query(owner=owner, status=status, limit=20, after=None, scope="orders")

    plan = await explain(postgres_orders_database_url, query)

    assert any(f"Index Scan Backward using {index} " in plan for index in indexes), plan
    # The page comes in index order; only each order's own lines are put in order.
    assert "Incremental Sort" in plan, plan
    assert "Presorted Key: orders.created_at, orders.id" in plan, plan
    assert not re.search(r"(^|->  )Sort ", plan, re.MULTILINE), plan


async def test_the_product_list_is_served_by_an_index_without_sorting(
    postgres_orders_database_url: str,
) -> None:
    query = newest_first_page(
        select(Product), Product.created_at, Product.id, limit=20, after=None, scope="products"
    )

    plan = await explain(postgres_orders_database_url, query)

    assert "Index Scan Backward using ix_products_created_at_id" in plan, plan
    assert "Sort" not in plan, plan
