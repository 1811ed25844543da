"""`Idempotency-Key` on `POST /orders`: retries replay, duplicates never create twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update

from order_service.app import create_app
from order_service.config import OrdersSettings
from order_service.idempotency import forget_expired_keys, order_fingerprint
from order_service.models import Event, IdempotencyKey, Order
from order_service.records import Requested
from order_service.store import Store
from shared.database import create_engine
from tests.order_service.conftest import Catalogue, act, stock_of
from tests.support.apps import app_client
from tests.support.database import session_on


@pytest.fixture
async def product(catalogue: Catalogue) -> dict[str, Any]:
    return await catalogue.add(price="2.50", stock=10)


def order_body(product: dict[str, Any], quantity: int = 1) -> dict[str, Any]:
    return {"items": [{"product_id": product["id"], "quantity": quantity}]}


async def post_order(
    client: httpx.AsyncClient,
    who: dict[str, str],
    body: dict[str, Any] | str,
    key: str = "key-1",
) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {**who, "Idempotency-Key": key, "Content-Type": "application/json"}
    return await client.post("/orders", content=content, headers=headers)


async def count_orders(database_url: str) -> int:
    async with session_on(database_url) as session:
        return (await session.execute(select(func.count()).select_from(Order))).scalar_one()


async def test_a_retry_replays_the_first_response_and_creates_nothing(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    product: dict[str, Any],
    orders_database_url: str,
) -> None:
    first = await post_order(orders_client, alice, order_body(product))
    retry = await post_order(orders_client, alice, order_body(product))

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count_orders(orders_database_url) == 1
    assert await stock_of(orders_client, alice, product["id"]) == 9


async def test_a_retry_replays_the_order_as_it_was_placed_byte_for_byte(
    orders_client: httpx.AsyncClient, alice: dict[str, str], catalogue: Catalogue
) -> None:
    product = await catalogue.add(name="Crème brûlée “maison”, 1 kg", price="7.05")
    first = await post_order(orders_client, alice, order_body(product, 3))
    paid = await act(orders_client, alice, first.json(), "pay")
    assert paid.json()["version"] == 2

    retry = await post_order(orders_client, alice, order_body(product, 3))

    assert retry.status_code == 201
    assert retry.content == first.content
    for header in ("location", "etag", "content-type", "cache-control"):
        assert retry.headers[header] == first.headers[header]
    assert retry.headers["etag"] == '"1"'


async def test_a_key_keeps_the_order_it_placed_not_its_response(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    product: dict[str, Any],
    orders_database_url: str,
) -> None:
    first = await post_order(orders_client, alice, order_body(product))

    async with session_on(orders_database_url) as session:
        [key] = (await session.scalars(select(IdempotencyKey))).all()
    assert key.order_id == uuid.UUID(first.json()["id"])
    assert (key.status_code, key.response_headers, key.response_body) == (None, None, None)


async def test_a_key_stored_with_its_whole_response_still_replays_it(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    alice_id: uuid.UUID,
    product: dict[str, Any],
    orders_database_url: str,
) -> None:
    """Keys stored before they recorded their order kept the response itself."""
    requested = [Requested(product_id=uuid.UUID(product["id"]), quantity=1)]
    now = datetime.now(UTC)
    async with session_on(orders_database_url) as session, session.begin():
        session.add(
            IdempotencyKey(
                user_id=alice_id,
                key="stored-before",
                request_fingerprint=order_fingerprint(requested),
                status_code=201,
                response_headers={"Location": "/orders/earlier", "ETag": '"1"'},
                response_body='{"id":"earlier"}',
                created_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )

    retry = await post_order(orders_client, alice, order_body(product), key="stored-before")

    assert retry.status_code == 201
    assert retry.content == b'{"id":"earlier"}'
    assert retry.headers["location"] == "/orders/earlier"
    assert retry.headers["idempotent-replayed"] == "true"
    assert await count_orders(orders_database_url) == 0


async def test_a_retry_after_the_placed_event_was_deleted_gets_the_order_as_it_is_now(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    product: dict[str, Any],
    orders_database_url: str,
) -> None:
    first = await post_order(orders_client, alice, order_body(product))
    await act(orders_client, alice, first.json(), "pay")
    async with session_on(orders_database_url) as session, session.begin():
        await session.execute(delete(Event))

    retry = await post_order(orders_client, alice, order_body(product))

    now = await orders_client.get(first.headers["location"], headers=alice)
    assert retry.status_code == 201
    assert retry.content == now.content
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["etag"] == '"2"'
    assert retry.headers["idempotent-replayed"] == "true"
    assert await count_orders(orders_database_url) == 1


async def test_the_same_json_written_differently_is_the_same_request(
    orders_client: httpx.AsyncClient, alice: dict[str, str], product: dict[str, Any]
) -> None:
    first = await post_order(orders_client, alice, order_body(product))
    spaced = f'{{ "items" : [ {{"quantity": 1, "product_id": "{product["id"]}"}} ] }}'

    retry = await post_order(orders_client, alice, spaced)

    assert retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]


async def test_the_same_key_with_another_body_is_422_and_creates_nothing(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    product: dict[str, Any],
    orders_database_url: str,
) -> None:
    await post_order(orders_client, alice, order_body(product, 1))

    response = await post_order(orders_client, alice, order_body(product, 2))

    assert response.status_code == 422
    assert response.json()["type"].endswith("/idempotency-key-reused")
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await count_orders(orders_database_url) == 1


async def test_keys_belong_to_their_user(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
    product: dict[str, Any],
) -> None:
    alices = await post_order(orders_client, alice, order_body(product))
    bobs = await post_order(orders_client, bob, order_body(product))

    assert bobs.status_code == 201
    assert bobs.json()["id"] != alices.json()["id"]


async def test_concurrent_duplicates_create_one_order(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    product: dict[str, Any],
    orders_database_url: str,
) -> None:
    responses = await asyncio.gather(
        *(post_order(orders_client, alice, order_body(product)) for _ in range(10))
    )

    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_orders(orders_database_url) == 1
    assert await stock_of(orders_client, alice, product["id"]) == 9


async def test_concurrent_duplicates_across_replicas_create_one_order(
    orders_settings: OrdersSettings,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    product: dict[str, Any],
    orders_database_url: str,
) -> None:
    async with app_client(create_app(orders_settings), "http://replica.test") as replica:
        responses = await asyncio.gather(
            *(
                post_order(client, alice, order_body(product))
                for client in [orders_client, replica] * 5
            )
        )

    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_orders(orders_database_url) == 1
    assert await stock_of(orders_client, alice, product["id"]) == 9


async def test_concurrent_retries_with_an_expired_key_create_one_new_order(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    product: dict[str, Any],
    orders_database_url: str,
) -> None:
    first = await post_order(orders_client, alice, order_body(product))
    async with session_on(orders_database_url) as session, session.begin():
        await session.execute(
            update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    responses = await asyncio.gather(
        *(post_order(orders_client, alice, order_body(product)) for _ in range(8))
    )

    assert [r.status_code for r in responses] == [201] * 8
    [new_id] = {r.json()["id"] for r in responses}
    assert new_id != first.json()["id"]
    assert await count_orders(orders_database_url) == 2


async def test_a_failed_request_leaves_the_key_free_for_its_retry(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    admin: dict[str, str],
    product: dict[str, Any],
) -> None:
    too_many = await post_order(orders_client, alice, order_body(product, 11))
    await orders_client.patch(f"/products/{product['id']}", json={"stock": 20}, headers=admin)

    retry = await post_order(orders_client, alice, order_body(product, 11))

    assert (too_many.status_code, retry.status_code) == (409, 201)


async def test_an_expired_key_is_free_again(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    product: dict[str, Any],
    orders_database_url: str,
) -> None:
    first = await post_order(orders_client, alice, order_body(product))
    async with session_on(orders_database_url) as session, session.begin():
        await session.execute(
            update(IdempotencyKey).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    again = await post_order(orders_client, alice, order_body(product))

    assert again.status_code == 201
    assert again.json()["id"] != first.json()["id"]


async def test_keys_are_kept_24_hours_then_deleted(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    product: dict[str, Any],
    orders_database_url: str,
) -> None:
    await post_order(orders_client, alice, order_body(product), key="kept")
    await post_order(orders_client, alice, order_body(product), key="expired")
    async with session_on(orders_database_url) as session, session.begin():
        [kept] = (
            await session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == "kept"))
        ).all()
        assert kept.expires_at - kept.created_at == timedelta(hours=24)
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "expired")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    async with Store(create_engine(OrdersSettings(database_url=orders_database_url))) as store:
        await forget_expired_keys(store, batch_size=10)

    async with session_on(orders_database_url) as session:
        assert (await session.scalars(select(IdempotencyKey.key))).all() == ["kept"]


async def test_a_quoted_key_is_the_same_key(
    orders_client: httpx.AsyncClient, alice: dict[str, str], product: dict[str, Any]
) -> None:
    first = await post_order(orders_client, alice, order_body(product), key="abc-123")
    quoted = await post_order(orders_client, alice, order_body(product), key='"abc-123"')

    assert quoted.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "has\u0001control", "é", '""', '"', '"a', 'a"', '"a"b"', "a\\b"],
    ids=[
        "empty",
        "long",
        "control",
        "non-ascii",
        "empty-quoted",
        "lone-quote",
        "unclosed",
        "unopened",
        "inner-quote",
        "backslash",
    ],
)
async def test_a_malformed_key_is_422(
    orders_client: httpx.AsyncClient, alice: dict[str, str], product: dict[str, Any], key: str
) -> None:
    headers = [
        *((name.encode(), value.encode()) for name, value in alice.items()),
        (b"Idempotency-Key", key.encode()),
    ]
    response = await orders_client.post("/orders", json=order_body(product), headers=headers)

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_orders_without_a_key_are_not_deduplicated(
    orders_client: httpx.AsyncClient, alice: dict[str, str], product: dict[str, Any]
) -> None:
    body = order_body(product)
    first = await orders_client.post("/orders", json=body, headers=alice)
    second = await orders_client.post("/orders", json=body, headers=alice)

    assert first.json()["id"] != second.json()["id"]
    assert uuid.UUID(second.json()["id"])
