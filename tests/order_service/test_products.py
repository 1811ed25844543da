from __future__ import annotations

import uuid

import httpx
import pytest

from tests.order_service.conftest import Catalogue


async def test_an_admin_adds_a_product(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await orders_client.post(
        "/products",
        json={"sku": "MUG-1", "name": "Mug", "price": "12.5", "stock": 3},
        headers=admin,
    )

    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/products/{body['id']}"
    assert body["sku"] == "MUG-1"
    assert body["price"] == "12.50"
    assert body["stock"] == 3
    assert set(body) == {"id", "sku", "name", "price", "stock", "created_at", "updated_at"}


async def test_a_user_cannot_add_products(
    orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    response = await orders_client.post(
        "/products", json={"sku": "X", "name": "X", "price": "1.00", "stock": 1}, headers=alice
    )

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_products_need_a_token(orders_client: httpx.AsyncClient) -> None:
    response = await orders_client.get("/products")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_taken_sku_is_409(catalogue: Catalogue, orders_client: httpx.AsyncClient) -> None:
    await catalogue.add(sku="DUP-1")

    response = await orders_client.post(
        "/products",
        json={"sku": "DUP-1", "name": "Again", "price": "1.00", "stock": 1},
        headers=catalogue.admin,
    )

    assert response.status_code == 409
    assert response.json()["type"] == "/problems/sku-taken"


@pytest.mark.parametrize(
    "fields",
    [
        {"price": "0"},
        {"price": "-1.00"},
        {"price": "1.001"},
        {"price": "abc"},
        {"stock": -1},
        {"sku": ""},
        {"sku": "has space"},
        {"name": ""},
        {"name": "nul\u0000byte"},
        {"name": "two\nlines"},
        {"price": "1000000.01"},
        {"stock": "10"},
        {"stock": True},
        # Found by fuzzing: the document now says what the service takes, and no more.
        {"price": 12.5},
        {"price": "012.50"},
        {"price": " 12.50"},
        {"price": "12.500"},
        {"stock": 1.5},
    ],
    ids=[
        "zero-price",
        "negative-price",
        "three-places",
        "not-a-number",
        "negative-stock",
        "empty-sku",
        "bad-sku",
        "empty-name",
        "nul-in-name",
        "newline-in-name",
        "price-over-a-million",
        "stock-as-text",
        "stock-as-boolean",
        "price-as-a-json-number",
        "price-with-a-leading-zero",
        "price-with-a-space",
        "price-with-three-places",
        "fractional-stock",
    ],
)
async def test_invalid_products_are_422(
    orders_client: httpx.AsyncClient, admin: dict[str, str], fields: dict[str, object]
) -> None:
    body = {"sku": "OK-1", "name": "Fine", "price": "1.00", "stock": 1, **fields}

    response = await orders_client.post("/products", json=body, headers=admin)

    assert response.status_code == 422
    assert response.json()["errors"]


async def test_a_whole_number_written_with_a_point_is_a_stock(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Found by fuzzing: JSON Schema's `integer` takes 3.0, so the service must too.
    response = await orders_client.post(
        "/products",
        json={"sku": "POINT-1", "name": "Pen", "price": "1.00", "stock": 3.0},
        headers=admin,
    )

    assert response.status_code == 201
    assert response.json()["stock"] == 3


async def test_get_product_and_404_for_an_unknown_one(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    product = await catalogue.add()

    found = await orders_client.get(f"/products/{product['id']}", headers=alice)
    missing = await orders_client.get(f"/products/{uuid.uuid4()}", headers=alice)

    assert found.json() == product
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_product_listing_pages_newest_first(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    created = [await catalogue.add() for _ in range(5)]

    first = (await orders_client.get("/products?limit=2", headers=alice)).json()
    second = (
        await orders_client.get(f"/products?limit=2&cursor={first['next_cursor']}", headers=alice)
    ).json()
    third = (
        await orders_client.get(f"/products?limit=2&cursor={second['next_cursor']}", headers=alice)
    ).json()

    listed = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert listed == [product["id"] for product in reversed(created)]
    assert third["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "cursor=garbage",
        # A well-formed cursor whose time cannot be stored: year 1 at +05:00 is before year 1.
        "cursor=WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzA1OjAwIiwgIjViNGUwYTNjLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMCJd",
    ],
    ids=["limit-0", "limit-101", "garbage-cursor", "overflowing-cursor"],
)
async def test_bad_paging_is_422(
    orders_client: httpx.AsyncClient, alice: dict[str, str], query: str
) -> None:
    response = await orders_client.get(f"/products?{query}", headers=alice)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


async def test_a_trailing_slash_is_a_404_not_a_redirect(
    orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    response = await orders_client.get("/products/", headers=alice)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "location" not in response.headers


async def test_head_answers_like_get_without_a_body(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    await catalogue.add()

    got = await orders_client.get("/products", headers=alice)
    head = await orders_client.head("/products", headers=alice)

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers["content-type"] == got.headers["content-type"]
