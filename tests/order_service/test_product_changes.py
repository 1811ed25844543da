"""`PATCH /products/{id}`: admins change a product's name, price or stock."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from order_service.models import Product
from tests.order_service.conftest import Catalogue, place_order
from tests.support.database import session_on


@pytest.fixture
async def product(catalogue: Catalogue) -> dict[str, Any]:
    return await catalogue.add(name="Mug", price="12.50", stock=10)


async def test_an_admin_changes_some_fields_and_the_rest_stay(
    orders_client: httpx.AsyncClient, admin: dict[str, str], product: dict[str, Any]
) -> None:
    response = await orders_client.patch(
        f"/products/{product['id']}", json={"price": "9.90", "stock": 0}, headers=admin
    )

    assert response.status_code == 200
    changed = response.json()
    assert (changed["name"], changed["price"], changed["stock"]) == ("Mug", "9.90", 0)
    assert changed["updated_at"] > product["updated_at"]
    again = await orders_client.get(f"/products/{product['id']}", headers=admin)
    assert again.json() == changed


async def test_orders_already_placed_keep_their_price(
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    product: dict[str, Any],
) -> None:
    order = (await place_order(orders_client, alice, (product, 1))).json()

    await orders_client.patch(f"/products/{product['id']}", json={"price": "99.00"}, headers=admin)

    kept = (await orders_client.get(f"/orders/{order['id']}", headers=alice)).json()
    assert kept["items"][0]["unit_price"] == "12.50"


async def test_a_user_cannot_change_products(
    orders_client: httpx.AsyncClient, alice: dict[str, str], product: dict[str, Any]
) -> None:
    response = await orders_client.patch(
        f"/products/{product['id']}", json={"stock": 1000}, headers=alice
    )

    assert response.status_code == 403


async def test_an_unknown_product_is_404(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await orders_client.patch(
        "/products/00000000-0000-0000-0000-000000000000", json={"stock": 1}, headers=admin
    )

    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"stock": -1},
        {"stock": None},
        {"price": "0.00"},
        {"price": "1.234"},
        {"name": ""},
        {"sku": "NEW-SKU"},
    ],
    ids=["negative-stock", "null-stock", "zero-price", "three-places", "empty-name", "sku"],
)
async def test_invalid_changes_are_422_and_change_nothing(
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    product: dict[str, Any],
    body: dict[str, Any],
) -> None:
    response = await orders_client.patch(f"/products/{product['id']}", json=body, headers=admin)

    assert response.status_code == 422
    assert response.json()["errors"]
    unchanged = await orders_client.get(f"/products/{product['id']}", headers=admin)
    assert unchanged.json() == product


async def test_the_database_itself_refuses_negative_stock(
    orders_database_url: str, product: dict[str, Any]
) -> None:
    async with session_on(orders_database_url) as session:
        with pytest.raises(IntegrityError, match="stock_not_negative"):
            async with session.begin():
                await session.execute(
                    update(Product).where(Product.id == uuid.UUID(product["id"])).values(stock=-1)
                )
