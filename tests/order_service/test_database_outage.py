"""A database outage: 503 problems while it lasts, not 500s or hangs; service as usual after.

The service reaches its Postgres through a forwarder that the tests cut, stall and restore.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from order_service.app import create_app
from order_service.config import OrdersSettings
from tests.support.apps import app_client
from tests.support.tcp_forwarder import TcpForwarder

# Short bounds keep the suite fast (the defaults are 5 s), yet leave the steps that must
# succeed room on a loaded machine, and are long enough that a wait on top of a timeout
# (closing a broken connection politely takes up to 2 s more) would show.
TIMEOUT_SECONDS = 1.0
# A request that hangs on the database is answered at most this long after its timeout: the
# README's half a second, with room for a loaded test machine, and still well below the 2 s
# that closing a broken connection politely used to add.
GRACE_SECONDS = 1.0
# Once the database answers again, requests succeed within this long (it used to take ~7 s).
RECOVERY_SECONDS = 2.0
# No test may take longer than this, whatever happens to the database. A stalled database
# never answers: only the bounds end such a wait before this deadline fails the test.
TEST_DEADLINE_SECONDS = 20


@pytest.fixture
def orders_database_url(postgres_orders_database_url: str) -> str:
    """Postgres only: SQLite is a file, there is no connection to cut."""
    return postgres_orders_database_url


@pytest.fixture
async def forwarder(orders_database_url: str) -> AsyncIterator[TcpForwarder]:
    async with TcpForwarder.in_front_of(orders_database_url) as forwarder:
        yield forwarder


@pytest.fixture
async def client(
    orders_settings: OrdersSettings, orders_database_url: str, forwarder: TcpForwarder
) -> AsyncIterator[httpx.AsyncClient]:
    settings = orders_settings.model_copy(
        update=forwarder.settings_through(orders_database_url, TIMEOUT_SECONDS)
    )
    async with app_client(create_app(settings), "http://orders.test") as client:
        yield client


def _new_product() -> dict[str, Any]:
    return {"sku": f"SKU-{uuid.uuid4().hex[:8]}", "name": "Mug", "price": "10.00", "stock": 5}


async def _add_product(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/products", json=_new_product(), headers=admin)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


def _order_of(product: dict[str, Any]) -> dict[str, Any]:
    return {"items": [{"product_id": product["id"], "quantity": 1}]}


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["status"] == 503


async def test_reads_and_writes_answer_503_problems_while_the_database_is_away(
    client: httpx.AsyncClient,
    forwarder: TcpForwarder,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        product = await _add_product(client, admin)
        await forwarder.cut()

        responses = [
            await client.get("/products", headers=alice),
            await client.get(f"/products/{product['id']}", headers=alice),
            await client.get("/orders", headers=alice),
            await client.post("/products", json=_new_product(), headers=admin),
            await client.post("/orders", json=_order_of(product), headers=alice),
        ]

    for response in responses:
        assert_database_unavailable(response)


async def test_readiness_fails_while_the_database_is_away(
    client: httpx.AsyncClient, forwarder: TcpForwarder, alice: dict[str, str]
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        assert (await client.get("/products", headers=alice)).status_code == 200
        await forwarder.cut()

        response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] != "ok"


async def test_the_service_recovers_by_itself_when_the_database_returns(
    client: httpx.AsyncClient,
    forwarder: TcpForwarder,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        product = await _add_product(client, admin)
        await forwarder.cut()
        assert_database_unavailable(await client.get("/products", headers=alice))

        await forwarder.restore()

        assert (await client.get(f"/products/{product['id']}", headers=alice)).status_code == 200
        placed = await client.post("/orders", json=_order_of(product), headers=alice)
        assert placed.status_code == 201, placed.text
        await _add_product(client, admin)
        assert (await client.get("/health/ready")).status_code == 200


async def test_a_hung_database_answers_503_within_the_command_timeout(
    client: httpx.AsyncClient,
    forwarder: TcpForwarder,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        product = await _add_product(client, admin)
        forwarder.stall()

    # Each on a connection whose server stopped answering (pooled, or opened just now).
    async with asyncio.timeout(TIMEOUT_SECONDS + GRACE_SECONDS):
        read = await client.get(f"/products/{product['id']}", headers=alice)
    async with asyncio.timeout(TIMEOUT_SECONDS + GRACE_SECONDS):
        write = await client.post("/orders", json=_order_of(product), headers=alice)

    assert_database_unavailable(read)
    assert_database_unavailable(write)


async def test_the_service_serves_again_soon_after_a_hung_database_answers(
    client: httpx.AsyncClient,
    forwarder: TcpForwarder,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        product = await _add_product(client, admin)
        forwarder.stall()
        assert_database_unavailable(await client.get("/products", headers=alice))
        assert_database_unavailable(
            await client.post("/products", json=_new_product(), headers=admin)
        )

    await forwarder.restore()

    async with asyncio.timeout(RECOVERY_SECONDS):
        read = await client.get(f"/products/{product['id']}", headers=alice)
        placed = await client.post("/orders", json=_order_of(product), headers=alice)
    assert read.status_code == 200, read.text
    assert placed.status_code == 201, placed.text
