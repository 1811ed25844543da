"""The order service under test: its real app, a database of the test's own (Postgres, and
SQLite again), and tokens verified through a real JWKS endpoint."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from order_service.app import create_app
from order_service.config import OrdersSettings
from tests.support.apps import app_client
from tests.support.tokens import AUDIENCE, ISSUER, TokenFactory


@pytest.fixture(params=["postgres", "sqlite"])
def orders_database_url(request: pytest.FixtureRequest) -> str:
    """Every test of the contract runs on Postgres (production) and SQLite (`make run`)."""
    url: str = request.getfixturevalue(f"{request.param}_orders_database_url")
    return url


@pytest.fixture
def orders_settings(orders_database_url: str, jwks_url: str) -> OrdersSettings:
    return OrdersSettings(
        database_url=orders_database_url,
        jwks_url=jwks_url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )


@pytest.fixture
async def orders_client(orders_settings: OrdersSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(orders_settings), "http://orders.test") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(tokens: TokenFactory) -> dict[str, str]:
    return bearer(tokens.issue(role="admin"))


@pytest.fixture
def alice_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def alice(tokens: TokenFactory, alice_id: uuid.UUID) -> dict[str, str]:
    return bearer(tokens.issue(alice_id))


@pytest.fixture
def bob(tokens: TokenFactory) -> dict[str, str]:
    return bearer(tokens.issue())


class Catalogue:
    """Creates products through the API, as an admin would."""

    def __init__(self, client: httpx.AsyncClient, admin: dict[str, str]) -> None:
        self.client = client
        self.admin = admin
        self.count = 0

    async def add(self, **fields: Any) -> dict[str, Any]:
        self.count += 1
        body = {
            "sku": f"SKU-{self.count}-{uuid.uuid4().hex[:6]}",
            "name": f"Product {self.count}",
            "price": "10.00",
            "stock": 10,
            **fields,
        }
        response = await self.client.post("/products", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        product: dict[str, Any] = response.json()
        return product


@pytest.fixture
def catalogue(orders_client: httpx.AsyncClient, admin: dict[str, str]) -> Catalogue:
    return Catalogue(orders_client, admin)


async def place_order(
    client: httpx.AsyncClient, who: dict[str, str], *lines: tuple[dict[str, Any], int]
) -> httpx.Response:
    items = [{"product_id": product["id"], "quantity": quantity} for product, quantity in lines]
    return await client.post("/orders", json={"items": items}, headers=who)


async def stock_of(client: httpx.AsyncClient, who: dict[str, str], product_id: str) -> int:
    stock: int = (await client.get(f"/products/{product_id}", headers=who)).json()["stock"]
    return stock


async def act(
    client: httpx.AsyncClient,
    who: dict[str, str],
    order: dict[str, Any],
    action: str,
    **headers: str,
) -> httpx.Response:
    return await client.post(f"/orders/{order['id']}/{action}", headers={**who, **headers})
