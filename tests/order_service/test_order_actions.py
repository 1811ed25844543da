"""Paying, shipping, delivering and cancelling over HTTP: the handlers are thin, so these
check what HTTP adds (who may, status codes, ETags, stock) rather than the whole table."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.order_service.conftest import Catalogue, act, place_order, stock_of


@pytest.fixture
async def order(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> dict[str, Any]:
    product = await catalogue.add(stock=10)
    response = await place_order(orders_client, alice, (product, 3))
    assert response.status_code == 201
    placed: dict[str, Any] = response.json()
    return placed


async def test_an_order_goes_from_pending_to_delivered(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    admin: dict[str, str],
    order: dict[str, Any],
) -> None:
    paid = await act(orders_client, alice, order, "pay")
    shipped = await act(orders_client, admin, order, "ship")
    delivered = await act(orders_client, admin, order, "deliver")

    assert [paid.status_code, shipped.status_code, delivered.status_code] == [200] * 3
    assert [r.json()["status"] for r in (paid, shipped, delivered)] == [
        "paid",
        "shipped",
        "delivered",
    ]
    assert [r.json()["version"] for r in (paid, shipped, delivered)] == [2, 3, 4]
    assert delivered.headers["etag"] == '"4"'
    current = await orders_client.get(f"/orders/{order['id']}", headers=alice)
    assert current.json()["status"] == "delivered"


async def test_an_invalid_transition_is_409_and_changes_nothing(
    orders_client: httpx.AsyncClient, admin: dict[str, str], order: dict[str, Any]
) -> None:
    response = await act(orders_client, admin, order, "deliver")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["status"] == 409  # RFC 9457's member; the order's own is `order_status`
    assert (problem["order_status"], problem["action"]) == ("pending", "deliver")
    current = (await orders_client.get(f"/orders/{order['id']}", headers=admin)).json()
    assert (current["status"], current["version"]) == ("pending", 1)


@pytest.mark.parametrize("who", ["alice", "admin"])
async def test_cancelling_restores_the_stock(
    request: pytest.FixtureRequest,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    order: dict[str, Any],
    who: str,
) -> None:
    product_id = order["items"][0]["product_id"]
    assert await stock_of(orders_client, alice, product_id) == 7

    response = await act(orders_client, request.getfixturevalue(who), order, "cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert await stock_of(orders_client, alice, product_id) == 10


async def test_a_paid_order_can_be_cancelled_once(
    orders_client: httpx.AsyncClient, alice: dict[str, str], order: dict[str, Any]
) -> None:
    product_id = order["items"][0]["product_id"]
    await act(orders_client, alice, order, "pay")

    first = await act(orders_client, alice, order, "cancel")
    second = await act(orders_client, alice, order, "cancel")

    assert (first.status_code, second.status_code) == (200, 409)
    assert await stock_of(orders_client, alice, product_id) == 10  # restored once only


@pytest.mark.parametrize(
    ("who", "action"), [("alice", "ship"), ("alice", "deliver"), ("admin", "pay")]
)
async def test_actions_of_the_other_party_are_403(
    request: pytest.FixtureRequest,
    orders_client: httpx.AsyncClient,
    order: dict[str, Any],
    who: str,
    action: str,
) -> None:
    response = await act(orders_client, request.getfixturevalue(who), order, action)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("action", ["pay", "cancel"])
async def test_another_users_order_is_404_for_every_action(
    orders_client: httpx.AsyncClient, bob: dict[str, str], order: dict[str, Any], action: str
) -> None:
    assert (await act(orders_client, bob, order, action)).status_code == 404


async def test_an_unknown_order_is_404(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    unknown = {"id": "00000000-0000-0000-0000-000000000000"}
    assert (await act(orders_client, admin, unknown, "cancel")).status_code == 404


async def test_a_stale_if_match_is_412_and_changes_nothing(
    orders_client: httpx.AsyncClient, alice: dict[str, str], order: dict[str, Any]
) -> None:
    await act(orders_client, alice, order, "pay")  # now version 2

    stale = await act(orders_client, alice, order, "cancel", **{"If-Match": '"1"'})
    fresh = await act(orders_client, alice, order, "cancel", **{"If-Match": '"2"'})

    assert stale.status_code == 412
    assert stale.json()["type"].endswith("/precondition-failed")
    assert stale.headers["etag"] == '"2"'
    assert fresh.status_code == 200


async def test_concurrent_cancellations_restore_the_stock_once(
    orders_client: httpx.AsyncClient, alice: dict[str, str], order: dict[str, Any]
) -> None:
    product_id = order["items"][0]["product_id"]

    responses = await asyncio.gather(
        *(act(orders_client, alice, order, "cancel") for _ in range(5))
    )

    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    assert await stock_of(orders_client, alice, product_id) == 10
