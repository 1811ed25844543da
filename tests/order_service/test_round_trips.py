"""The hot paths' round trips to Postgres, counted on the wire: each one costs the service
(and the database) more CPU than anything else it does for a request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from order_service.app import create_app
from order_service.config import OrdersSettings
from order_service.idempotency import forget_expired_keys
from order_service.store import Store
from tests.order_service.conftest import Catalogue, place_order
from tests.shared.round_trips import RoundTripCounter
from tests.support.apps import app_client


@pytest.fixture
def orders_database_url(postgres_orders_database_url: str) -> str:
    """Postgres only: SQLite has no wire to count on."""
    return postgres_orders_database_url


@pytest.fixture
async def counter(orders_database_url: str) -> AsyncIterator[RoundTripCounter]:
    async with RoundTripCounter.in_front_of(orders_database_url) as counter:
        yield counter


@pytest.fixture
async def client(
    orders_settings: OrdersSettings,
    orders_database_url: str,
    counter: RoundTripCounter,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = orders_settings.model_copy(
        update={"database_url": counter.url_through(orders_database_url)}
    )
    # The service's first clean-up runs beside the first requests, on a connection of its
    # own: on a busy machine it could still be talking to Postgres while a test counts.
    cleaned_up = asyncio.Event()

    async def forget_expired_keys_and_tell(store: Store) -> None:
        await forget_expired_keys(store)
        cleaned_up.set()

    monkeypatch.setattr("order_service.app.forget_expired_keys", forget_expired_keys_and_tell)
    async with app_client(create_app(settings), "http://orders.test") as client:
        async with asyncio.timeout(30):
            await cleaned_up.wait()
        yield client


async def test_reading_an_order_is_one_round_trip(
    client: httpx.AsyncClient,
    counter: RoundTripCounter,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    product = await Catalogue(client, admin).add(stock=10)
    order = (await place_order(client, alice, (product, 2))).json()
    await client.get(f"/orders/{order['id']}", headers=alice)  # prepares the statement

    before = counter.round_trips
    response = await client.get(f"/orders/{order['id']}", headers=alice)

    assert response.status_code == 200
    assert len(response.json()["items"]) == 1
    # The order and its lines in one statement, without BEGIN or ROLLBACK.
    assert counter.round_trips - before == 1


async def test_placing_a_one_line_order_is_five_round_trips(
    client: httpx.AsyncClient,
    counter: RoundTripCounter,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    product = await Catalogue(client, admin).add(stock=10)
    await place_order(client, alice, (product, 1))  # prepares the statements

    before = counter.round_trips
    response = await place_order(client, alice, (product, 1))

    assert response.status_code == 201
    # BEGIN; the stock (with the product's snapshot); the order; its lines; COMMIT.
    assert counter.round_trips - before == 5


async def test_listing_orders_is_one_round_trip(
    client: httpx.AsyncClient,
    counter: RoundTripCounter,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    product = await Catalogue(client, admin).add(stock=10)
    for _ in range(3):
        await place_order(client, alice, (product, 1))
    await client.get("/orders", headers=alice)  # prepares the statement

    before = counter.round_trips
    response = await client.get("/orders", headers=alice)

    assert response.status_code == 200
    assert len(response.json()["items"]) == 3
    # The orders and their lines in one statement (one snapshot), without BEGIN or ROLLBACK.
    assert counter.round_trips - before == 1
