from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import update

from order_service.app import create_app
from order_service.config import OrdersSettings
from order_service.models import Product
from tests.order_service.conftest import Catalogue, place_order
from tests.support.apps import app_client
from tests.support.database import session_on


async def _stock(client: httpx.AsyncClient, who: dict[str, str], product_id: str) -> int:
    stock: int = (await client.get(f"/products/{product_id}", headers=who)).json()["stock"]
    return stock


async def test_placing_an_order_reserves_stock_and_snapshots_prices(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    alice_id: uuid.UUID,
) -> None:
    mug = await catalogue.add(price="12.50", stock=10)
    pen = await catalogue.add(price="0.99", stock=5)

    response = await place_order(orders_client, alice, (mug, 2), (pen, 3))

    assert response.status_code == 201
    order = response.json()
    assert response.headers["location"] == f"/orders/{order['id']}"
    assert response.headers["etag"] == '"1"'
    assert order["user_id"] == str(alice_id)
    assert order["status"] == "pending"
    assert order["currency"] == "USD"
    assert order["version"] == 1
    assert [
        (line["sku"], line["quantity"], line["unit_price"], line["line_total"])
        for line in order["items"]
    ] == [
        (mug["sku"], 2, "12.50", "25.00"),
        (pen["sku"], 3, "0.99", "2.97"),
    ]
    assert order["total"] == "27.97"
    assert await _stock(orders_client, alice, mug["id"]) == 8
    assert await _stock(orders_client, alice, pen["id"]) == 2


async def test_the_largest_possible_order_is_stored_exactly(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    products = [await catalogue.add(price="1000000.00", stock=1000) for _ in range(3)]

    response = await place_order(orders_client, alice, *((product, 1000) for product in products))

    assert response.status_code == 201
    assert response.json()["total"] == "3000000000.00"


async def test_a_whole_number_written_with_a_point_is_a_quantity(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    # Found by fuzzing: JSON Schema's `integer` takes 2.0, so the service must too.
    mug = await catalogue.add(stock=5)

    response = await orders_client.post(
        "/orders", json={"items": [{"product_id": mug["id"], "quantity": 2.0}]}, headers=alice
    )

    assert response.status_code == 201
    assert response.json()["items"][0]["quantity"] == 2


async def test_an_order_keeps_the_price_it_was_placed_at(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    orders_database_url: str,
) -> None:
    mug = await catalogue.add(price="12.50")
    order = (await place_order(orders_client, alice, (mug, 1))).json()

    async with session_on(orders_database_url) as session, session.begin():
        await session.execute(
            update(Product).where(Product.id == uuid.UUID(mug["id"])).values(price=Decimal("99.00"))
        )

    reread = (await orders_client.get(f"/orders/{order['id']}", headers=alice)).json()
    assert reread["items"][0]["unit_price"] == "12.50"
    assert reread["total"] == "12.50"


async def test_out_of_stock_is_409_and_no_line_keeps_its_reservation(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    orders_database_url: str,
) -> None:
    # Stock is reserved in product-id order: the scarce product must come last, so that the
    # plentiful one has been reserved, and must be given back, when the scarce one fails.
    plenty, scarce = sorted(
        [await catalogue.add(stock=10), await catalogue.add(stock=10)],
        key=lambda product: uuid.UUID(product["id"]),
    )
    async with session_on(orders_database_url) as session, session.begin():
        await session.execute(
            update(Product).where(Product.id == uuid.UUID(scarce["id"])).values(stock=1)
        )

    response = await place_order(orders_client, alice, (plenty, 4), (scarce, 2))

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/out-of-stock"
    assert response.json()["product_id"] == scarce["id"]
    assert await _stock(orders_client, alice, plenty["id"]) == 10
    assert await _stock(orders_client, alice, scarce["id"]) == 1
    assert (await orders_client.get("/orders", headers=alice)).json()["items"] == []


async def test_an_unknown_product_is_422_and_reserves_nothing(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    real = await catalogue.add(stock=5)
    ghost = {"id": str(uuid.uuid4())}

    response = await place_order(orders_client, alice, (real, 1), (ghost, 1))

    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "unknown_product"
    assert await _stock(orders_client, alice, real["id"]) == 5


async def test_an_unknown_product_is_422_even_beside_one_out_of_stock(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    scarce = await catalogue.add(stock=1)
    ghosts = [str(uuid.uuid4()), str(uuid.uuid4())]

    response = await place_order(
        orders_client, alice, (scarce, 2), *(({"id": ghost}, 1) for ghost in ghosts)
    )

    assert response.status_code == 422
    named = {error["msg"].removeprefix("Unknown product ") for error in response.json()["errors"]}
    assert named == set(ghosts)
    assert await _stock(orders_client, alice, scarce["id"]) == 1


@pytest.mark.parametrize(
    "items_for",
    [
        lambda product_id: [],
        lambda product_id: [{"quantity": 1}],
        lambda product_id: [{"product_id": product_id, "quantity": 0}],
        lambda product_id: [{"product_id": product_id, "quantity": 1001}],
        lambda product_id: [{"product_id": product_id, "quantity": 1}] * 2,
        lambda product_id: [{"product_id": "not-a-uuid", "quantity": 1}],
        lambda product_id: [{"product_id": product_id, "quantity": "2"}],
        lambda product_id: [{"product_id": product_id, "quantity": True}],
        lambda product_id: [{"product_id": product_id, "quantity": 1.5}],
    ],
    ids=[
        "empty",
        "no-product",
        "zero",
        "too-many",
        "duplicate-lines",
        "bad-id",
        "quantity-as-text",
        "quantity-as-boolean",
        "fractional-quantity",
    ],
)
async def test_invalid_orders_are_422(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    items_for: Callable[[str], list[dict[str, object]]],
) -> None:
    product = await catalogue.add(stock=5)

    response = await orders_client.post(
        "/orders", json={"items": items_for(product["id"])}, headers=alice
    )

    assert response.status_code == 422
    assert response.json()["errors"]
    assert await _stock(orders_client, alice, product["id"]) == 5


async def test_owner_and_admin_see_an_order_others_get_404(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
    admin: dict[str, str],
) -> None:
    order = (await place_order(orders_client, alice, (await catalogue.add(), 1))).json()
    path = f"/orders/{order['id']}"

    as_owner = await orders_client.get(path, headers=alice)
    as_admin = await orders_client.get(path, headers=admin)
    as_other = await orders_client.get(path, headers=bob)
    unknown = await orders_client.get(f"/orders/{uuid.uuid4()}", headers=alice)

    assert as_owner.json() == order
    assert as_owner.headers["etag"] == '"1"'
    assert as_admin.status_code == 200
    assert as_other.status_code == unknown.status_code == 404
    assert as_other.json()["detail"] == unknown.json()["detail"]


async def test_users_list_only_their_own_orders_newest_first(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
) -> None:
    product = await catalogue.add(stock=100)
    mine = [(await place_order(orders_client, alice, (product, 1))).json()["id"] for _ in range(3)]
    await place_order(orders_client, bob, (product, 1))

    first = (await orders_client.get("/orders?limit=2", headers=alice)).json()
    second = (
        await orders_client.get(f"/orders?limit=2&cursor={first['next_cursor']}", headers=alice)
    ).json()

    assert [o["id"] for o in first["items"] + second["items"]] == list(reversed(mine))
    assert second["next_cursor"] is None


async def test_admins_list_everyones_orders_or_one_users(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    alice_id: uuid.UUID,
    bob: dict[str, str],
    admin: dict[str, str],
) -> None:
    product = await catalogue.add(stock=100)
    await place_order(orders_client, alice, (product, 1))
    await place_order(orders_client, bob, (product, 1))

    everyone = (await orders_client.get("/orders", headers=admin)).json()["items"]
    alices = (await orders_client.get(f"/orders?user_id={alice_id}", headers=admin)).json()

    assert len(everyone) == 2
    assert [order["user_id"] for order in alices["items"]] == [str(alice_id)]


async def test_a_user_cannot_list_another_users_orders_by_filter(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    alice_id: uuid.UUID,
    bob: dict[str, str],
) -> None:
    product = await catalogue.add()
    await place_order(orders_client, alice, (product, 1))
    await place_order(orders_client, bob, (product, 1))

    response = await orders_client.get(f"/orders?user_id={alice_id}", headers=bob)

    # The filter narrows what Bob may see (his own orders): none of them are Alice's.
    assert response.status_code == 200
    assert response.json()["items"] == []


async def test_orders_filter_by_status(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    await place_order(orders_client, alice, (await catalogue.add(), 1))

    pending = (await orders_client.get("/orders?status=pending", headers=alice)).json()
    paid = (await orders_client.get("/orders?status=paid", headers=alice)).json()
    bogus = await orders_client.get("/orders?status=lost", headers=alice)

    assert len(pending["items"]) == 1
    assert paid["items"] == []
    assert bogus.status_code == 422


async def test_concurrent_orders_never_oversell(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    product = await catalogue.add(stock=10)

    responses = await asyncio.gather(
        *(place_order(orders_client, alice, (product, 1)) for _ in range(100))
    )

    statuses = [response.status_code for response in responses]
    assert statuses.count(201) == 10
    assert statuses.count(409) == 90
    assert await _stock(orders_client, alice, product["id"]) == 0


async def test_two_replicas_on_one_database_never_oversell(
    orders_settings: OrdersSettings,
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
) -> None:
    product = await catalogue.add(stock=10)

    async with app_client(create_app(orders_settings), "http://replica.test") as replica:
        responses = await asyncio.gather(
            *(place_order(client, alice, (product, 1)) for client in [orders_client, replica] * 50)
        )

    statuses = [response.status_code for response in responses]
    assert statuses.count(201) == 10
    assert statuses.count(409) == 90
    assert await _stock(orders_client, alice, product["id"]) == 0


async def test_concurrent_multi_line_orders_in_opposite_orders_never_deadlock(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    first, second = await catalogue.add(stock=40), await catalogue.add(stock=40)

    responses = await asyncio.gather(
        *(
            place_order(orders_client, alice, *pair)
            for pair in [((first, 1), (second, 1)), ((second, 1), (first, 1))] * 20
        )
    )

    assert [response.status_code for response in responses] == [201] * 40
    assert await _stock(orders_client, alice, first["id"]) == 0
    assert await _stock(orders_client, alice, second["id"]) == 0


async def test_a_cursor_from_another_listing_is_422(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    product = await catalogue.add(stock=10)
    for _ in range(3):
        await place_order(orders_client, alice, (product, 1))
    cursor = (await orders_client.get("/orders?limit=1", headers=alice)).json()["next_cursor"]

    elsewhere = await orders_client.get(
        f"/orders?limit=1&status=paid&cursor={cursor}", headers=alice
    )

    assert elsewhere.status_code == 422
    assert elsewhere.headers["content-type"] == "application/problem+json"
