"""The order service under test: its real app, a database of the test's own (Postgres, and
SQLite again), and tokens verified through a real JWKS endpoint."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
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


# On Postgres the feed shows an event once every transaction that could precede it has ended:
# a moment after it commits on a busy server (other tests' transactions count too).
FEED_DEADLINE_SECONDS = 20.0


async def read_feed(
    client: httpx.AsyncClient, who: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """Every event of the feed that `who` may read now, oldest first, page by page."""
    events: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/events", params=query, headers=who)
        assert response.status_code == 200, response.text
        page = response.json()
        events.extend(page["items"])
        if len(page["items"]) < 100:
            return events
        cursor = page["next_cursor"]


async def feed_when(
    client: httpx.AsyncClient,
    who: dict[str, str],
    is_complete: Callable[[list[dict[str, Any]]], bool],
    **params: Any,
) -> list[dict[str, Any]]:
    """The feed `who` may read, once `is_complete` says it holds what the test waits for."""
    async with asyncio.timeout(FEED_DEADLINE_SECONDS):
        # Polled: what it waits for happens in the database.
        while not is_complete(events := await read_feed(client, who, **params)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return events


def about(events: list[dict[str, Any]], resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The events about an order or product, oldest first."""
    return [event for event in events if event["aggregate"]["id"] == resource["id"]]


async def events_about(
    client: httpx.AsyncClient, admin: dict[str, str], resource: dict[str, Any], count: int
) -> list[dict[str, Any]]:
    """The events about `resource`, once there are `count` of them."""
    return about(
        await feed_when(client, admin, lambda events: len(about(events, resource)) >= count),
        resource,
    )
