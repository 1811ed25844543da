"""The hot paths' round trips to Postgres, counted on the wire: each one costs the service
(and the database) more CPU than anything else it does for a request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from order_service.app import create_app
from order_service.config import OrdersSettings
from order_service.housekeeping import delete_expired_records
from order_service.records import AggregateType, EventRecord, EventType
from order_service.store import Store
from order_service.store.events import insert_events
from shared.database import create_engine
from shared.settings import DatabaseSettings
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

    async def clean_up_and_tell(store: Store, settings: OrdersSettings) -> None:
        await delete_expired_records(store, settings)
        cleaned_up.set()

    monkeypatch.setattr("order_service.app.delete_expired_records", clean_up_and_tell)
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


async def test_placing_a_one_line_order_is_six_round_trips(
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
    # BEGIN; the stock (returning the product); the order; its lines; its events (the order
    # placed, the product's stock changed: the outbox's one round trip); COMMIT.
    assert counter.round_trips - before == 6


async def test_placing_an_order_with_an_idempotency_key_is_one_round_trip_more(
    client: httpx.AsyncClient,
    counter: RoundTripCounter,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    product = await Catalogue(client, admin).add(stock=10)
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    await client.post("/orders", json=body, headers={**alice, "Idempotency-Key": "warm-up"})

    before = counter.round_trips
    response = await client.post("/orders", json=body, headers={**alice, "Idempotency-Key": "k"})

    assert response.status_code == 201
    # The six of an order without a key, and the claim of the key with the order's id: the
    # key keeps no response, so nothing is written to it afterwards.
    assert counter.round_trips - before == 7


async def test_the_events_of_a_change_are_one_statement_whatever_their_number(
    counter: RoundTripCounter, orders_database_url: str
) -> None:
    engine = create_engine(DatabaseSettings(database_url=counter.url_through(orders_database_url)))
    try:
        async with Store(engine).writing() as connection:
            await insert_events(connection, [_event() for _ in range(5)])  # prepares it
            before = (counter.round_trips, counter.executions)
            await insert_events(connection, [_event() for _ in range(5)])
            after = (counter.round_trips, counter.executions)
    finally:
        await engine.dispose()

    # One multi-row INSERT: one round trip, one execution on the server.
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


def _event() -> EventRecord:
    return EventRecord(
        id=uuid.uuid4(),
        type=EventType.PRODUCT_STOCK_CHANGED,
        occurred_at=datetime.now(UTC),
        aggregate_type=AggregateType.PRODUCT,
        aggregate_id=uuid.uuid4(),
        aggregate_version=2,
        user_id=None,
        data={"stock": 1},
    )


async def test_listing_orders_is_one_round_trip_whatever_the_page_size(
    client: httpx.AsyncClient,
    counter: RoundTripCounter,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    products = [await Catalogue(client, admin).add(stock=100) for _ in range(3)]

    async def round_trips_to_list(orders: int) -> int:
        await client.get("/orders?limit=100", headers=alice)  # prepares the statement
        before = counter.round_trips
        response = await client.get("/orders?limit=100", headers=alice)
        assert response.status_code == 200
        assert len(response.json()["items"]) == orders
        return counter.round_trips - before

    await place_order(client, alice, *((product, 1) for product in products))
    with_one = await round_trips_to_list(1)
    for _ in range(15):
        await place_order(client, alice, *((product, 1) for product in products))
    with_sixteen = await round_trips_to_list(16)

    # The orders and their lines in one statement (one snapshot), without BEGIN or ROLLBACK.
    assert with_one == with_sixteen == 1
