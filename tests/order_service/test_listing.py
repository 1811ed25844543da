"""Listing orders and products: one statement, plans that need no sort, and cursors that only
the service makes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
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
from order_service.housekeeping import delete_expired_records
from order_service.lifecycle import OrderStatus
from order_service.models import Product
from order_service.state import OrdersState
from order_service.store import Store
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
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[httpx.AsyncClient, OrdersState]]:
    # The service's first clean-up runs beside the first requests: statements are counted
    # once it is done.
    cleaned_up = asyncio.Event()

    async def clean_up_and_tell(store: Store, settings: OrdersSettings) -> None:
        await delete_expired_records(store, settings)
        cleaned_up.set()

    monkeypatch.setattr("order_service.app.delete_expired_records", clean_up_and_tell)
    async with running_app(create_app(orders_settings), "http://orders.test") as running:
        async with asyncio.timeout(30):
            await cleaned_up.wait()
        yield running


# On SQLite, where statements run through SQLAlchemy's engine; Postgres's are counted on the
# wire (test_round_trips.py).
@pytest.mark.parametrize("orders_database_url", ["sqlite"], indirect=True)
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


BY_USER, BY_USER_AND_STATUS, BY_TIME, BY_STATUS = (
    "ix_orders_user_id_created_at_id",
    "ix_orders_user_id_status_created_at_id",
    "ix_orders_created_at_id",
    "ix_orders_status_created_at_id",
)


@pytest.mark.parametrize(
    ("owner", "status", "indexes"),
    [
        (USER_ID, None, {BY_USER}),
        # Its own index: reading another's would discard the user's other statuses, or the
        # status's other users (test_listing_plans.py shows it on skewed data).
        (USER_ID, OrderStatus.PAID, {BY_USER_AND_STATUS}),
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
    query = orders_page_query(
        is_one_owners=owner is not None, is_one_status=status is not None, is_after_a_cursor=False
    ).params(owner=owner, status=status, rows_wanted=21)

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
        select(Product), Product.created_at, Product.id, is_after_a_cursor=False
    ).params(rows_wanted=21)

    plan = await explain(postgres_orders_database_url, query)

    assert "Index Scan Backward using ix_products_created_at_id" in plan, plan
    assert "Sort" not in plan, plan


def forged_cursor(position: object, scope: str) -> str:
    """A cursor around any `position` with a valid checksum for the listing `scope`, as anyone
    who reads the code can make one (the checksum has no key)."""
    payload = json.dumps(position).encode()
    check = hashlib.sha256(scope.encode() + b"\0" + payload).digest()[:8]
    return base64.urlsafe_b64encode(check + payload).rstrip(b"=").decode()


FORGED_POSITIONS = [
    pytest.param(["2026-01-01T00:00:00+00:00", 5], id="number-id"),
    pytest.param(["2026-01-01T00:00:00+00:00", [str(uuid.uuid4())]], id="list-id"),
    pytest.param([["2026-01-01T00:00:00+00:00"], str(uuid.uuid4())], id="list-time"),
    pytest.param(5, id="number"),
    pytest.param({"created_at": "2026-01-01T00:00:00+00:00"}, id="object"),
]


def assert_invalid_cursor(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("position", FORGED_POSITIONS)
async def test_a_forged_product_cursor_is_a_422(
    orders_client: httpx.AsyncClient, alice: dict[str, str], position: object
) -> None:
    cursor = forged_cursor(position, "products")

    assert_invalid_cursor(await orders_client.get(f"/products?cursor={cursor}", headers=alice))


@pytest.mark.parametrize("position", FORGED_POSITIONS)
async def test_a_forged_order_cursor_is_a_422(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    alice_id: uuid.UUID,
    position: object,
) -> None:
    cursor = forged_cursor(position, f"orders|{alice_id}|*|*")

    assert_invalid_cursor(await orders_client.get(f"/orders?cursor={cursor}", headers=alice))
