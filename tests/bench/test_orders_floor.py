"""The order service's floor (`bench/peers/orders_floor.py`) is held to the service: on the same
Postgres database, both answer alike, write the same rows and events, replay a retried
`Idempotency-Key` (each the other's too), and make the same round trips for each request.
Otherwise the benchmark's ratios against it would compare different work."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from bench.peers import orders_floor
from order_service.app import create_app
from order_service.config import OrdersSettings
from order_service.housekeeping import delete_expired_records
from order_service.store import Store
from tests.shared.round_trips import RoundTripCounter
from tests.support.apps import app_client
from tests.support.tokens import AUDIENCE, ISSUER, TokenFactory

# What an answer says beyond its body, and what a client reads from it.
_HEADERS = ("content-type", "etag", "cache-control", "location", "idempotent-replayed")


@dataclass
class Peer:
    """The service or its floor: a client of it, and the round trips it makes to Postgres."""

    client: httpx.AsyncClient
    counter: RoundTripCounter

    async def cost(self, method: str, path: str, **kwargs: Any) -> tuple[int, int, int]:
        """The answer's status, and the round trips and statement executions it took."""
        before = (self.counter.round_trips, self.counter.executions)
        response = await self.client.request(method, path, **kwargs)
        return (
            response.status_code,
            self.counter.round_trips - before[0],
            self.counter.executions - before[1],
        )


def _asyncpg_dsn(url: str) -> str:
    """A URL the tests' relay gives (`?ssl=disable`, SQLAlchemy's spelling) as asyncpg's DSN."""
    return (
        make_url(url)
        .set(drivername="postgresql", query={"sslmode": "disable"})
        .render_as_string(hide_password=False)
    )


@pytest.fixture
def alice_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def alice(tokens: TokenFactory, alice_id: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(alice_id)}"}


@pytest.fixture
async def service(
    postgres_orders_database_url: str, jwks_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Peer]:
    async with RoundTripCounter.in_front_of(postgres_orders_database_url) as counter:
        settings = OrdersSettings(
            database_url=counter.url_through(postgres_orders_database_url),
            jwks_url=jwks_url,
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
        )
        # The service's first clean-up runs beside the first requests: it is waited for, so
        # that its round trips are not counted as theirs.
        cleaned_up = asyncio.Event()

        async def clean_up_and_tell(store: Store, settings: OrdersSettings) -> None:
            await delete_expired_records(store, settings)
            cleaned_up.set()

        monkeypatch.setattr("order_service.app.delete_expired_records", clean_up_and_tell)
        async with app_client(create_app(settings), "http://orders.test") as client:
            async with asyncio.timeout(30):
                await cleaned_up.wait()
            yield Peer(client, counter)


@pytest.fixture
async def floor(
    postgres_orders_database_url: str, alice: dict[str, str], alice_id: uuid.UUID
) -> AsyncIterator[Peer]:
    token = alice["Authorization"].removeprefix("Bearer ")
    async with RoundTripCounter.in_front_of(postgres_orders_database_url) as counter:
        app = orders_floor.create_app(
            _asyncpg_dsn(counter.url_through(postgres_orders_database_url)), {token: alice_id}
        )
        async with app_client(app, "http://floor.test") as client:
            yield Peer(client, counter)


@pytest.fixture
async def product(service: Peer, tokens: TokenFactory) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {tokens.issue(role='admin')}"}
    body = {"sku": "FLOOR-1", "name": "Floor widget", "price": "12.34", "stock": 1000}
    response = await service.client.post("/products", json=body, headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _order_of(product: dict[str, Any], quantity: int = 2) -> dict[str, Any]:
    return {"items": [{"product_id": product["id"], "quantity": quantity}]}


def _headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in _HEADERS if name in response.headers}


def _without_identity(order: dict[str, Any]) -> dict[str, Any]:
    """An order without what differs between two placed alike: its id and its times."""
    return {k: v for k, v in order.items() if k not in {"id", "created_at", "updated_at"}}


async def _events_of(database_url: str, order_id: str) -> list[dict[str, Any]]:
    """The events of the transaction that placed the order, as rows (without their ids)."""
    connection = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT type, aggregate_type, aggregate_version, user_id, data::text AS data"
            " FROM events WHERE xid_horizon = (SELECT xid_horizon FROM events"
            " WHERE aggregate_id = $1) ORDER BY position",
            uuid.UUID(order_id),
        )
    finally:
        await connection.close()
    return [dict(row) for row in rows]


async def test_an_order_reads_the_same_from_both(
    service: Peer, floor: Peer, product: dict[str, Any], alice: dict[str, str]
) -> None:
    placed = await service.client.post("/orders", json=_order_of(product), headers=alice)
    path = f"/orders/{placed.json()['id']}"

    from_service = await service.client.get(path, headers=alice)
    from_floor = await floor.client.get(path, headers=alice)

    assert (from_service.status_code, from_floor.status_code) == (200, 200)
    assert from_floor.json() == from_service.json() == placed.json()
    assert _headers(from_floor) == _headers(from_service)


async def test_a_placed_order_is_answered_and_written_alike(
    service: Peer,
    floor: Peer,
    product: dict[str, Any],
    alice: dict[str, str],
    postgres_orders_database_url: str,
) -> None:
    by_service = await service.client.post("/orders", json=_order_of(product), headers=alice)
    by_floor = await floor.client.post("/orders", json=_order_of(product), headers=alice)

    assert (by_service.status_code, by_floor.status_code) == (201, 201)
    assert _without_identity(by_floor.json()) == _without_identity(by_service.json())
    assert _headers(by_floor).keys() == _headers(by_service).keys()
    assert by_floor.headers["location"] == f"/orders/{by_floor.json()['id']}"
    # What the floor placed, the service reads back as the floor answered it.
    read_back = await service.client.get(by_floor.headers["location"], headers=alice)
    assert read_back.json() == by_floor.json()
    # The same events: the order as answered, and the product's stock at its new version.
    service_events = await _events_of(postgres_orders_database_url, by_service.json()["id"])
    floor_events = await _events_of(postgres_orders_database_url, by_floor.json()["id"])
    assert [e["type"] for e in floor_events] == ["order.placed", "product.stock_changed"]
    assert [e["type"] for e in service_events] == [e["type"] for e in floor_events]
    assert floor_events[1]["aggregate_version"] == service_events[1]["aggregate_version"] + 1
    for events, answer in ((service_events, by_service), (floor_events, by_floor)):
        assert httpx.Response(200, content=events[0]["data"]).json() == answer.json()


async def test_a_retried_key_replays_on_both_and_across_them(
    service: Peer, floor: Peer, product: dict[str, Any], alice: dict[str, str]
) -> None:
    answers = {}
    for name, peer in (("service", service), ("floor", floor)):
        keyed = {**alice, "Idempotency-Key": f'"{name}-{uuid.uuid4()}"'}
        first = await peer.client.post("/orders", json=_order_of(product), headers=keyed)
        again = await peer.client.post("/orders", json=_order_of(product), headers=keyed)
        # The other one replays it too: the key is stored the same way.
        across = await (floor if peer is service else service).client.post(
            "/orders", json=_order_of(product), headers=keyed
        )
        reused = await peer.client.post("/orders", json=_order_of(product, 3), headers=keyed)
        answers[name] = (first, again, across, reused)

    for first, again, across, reused in answers.values():
        assert (first.status_code, again.status_code, across.status_code) == (201, 201, 201)
        assert "idempotent-replayed" not in first.headers
        assert again.headers["idempotent-replayed"] == "true"
        assert across.headers["idempotent-replayed"] == "true"
        assert again.json() == across.json() == first.json()
        assert reused.status_code == 422
    assert _headers(answers["floor"][1]).keys() == _headers(answers["service"][1]).keys()


async def test_each_request_makes_the_same_round_trips_on_both(
    service: Peer, floor: Peer, product: dict[str, Any], alice: dict[str, str]
) -> None:
    body = _order_of(product)
    placed = await service.client.post("/orders", json=body, headers=alice)
    order_path = f"/orders/{placed.json()['id']}"

    async def costs(peer: Peer) -> dict[str, tuple[int, int, int]]:
        # Every statement prepared first: reading, placing, claiming a key, reading a key.
        warm = {**alice, "Idempotency-Key": str(uuid.uuid4())}
        await peer.client.get(order_path, headers=alice)
        for headers in (alice, warm, warm):
            await peer.client.post("/orders", json=body, headers=headers)
        keyed = {**alice, "Idempotency-Key": str(uuid.uuid4())}
        return {
            "get": await peer.cost("GET", order_path, headers=alice),
            "post": await peer.cost("POST", "/orders", json=body, headers=alice),
            "post keyed": await peer.cost("POST", "/orders", json=body, headers=keyed),
            "post keyed, replayed": await peer.cost("POST", "/orders", json=body, headers=keyed),
        }

    from_service, from_floor = await costs(service), await costs(floor)

    assert from_floor == from_service
    # GET: one statement; POST: BEGIN, the stock, the order, its lines, its events, COMMIT;
    # with a key, its claim too; a replay: BEGIN, the claim, the key with its order, COMMIT.
    assert {name: (status, trips) for name, (status, trips, _) in from_floor.items()} == {
        "get": (200, 1),
        "post": (201, 6),
        "post keyed": (201, 7),
        "post keyed, replayed": (201, 4),
    }
