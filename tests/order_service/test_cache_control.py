"""Orders are personal: no cache may keep any answer about one, its errors included. The
catalogue is not: its answers say nothing about caching."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.order_service.conftest import Catalogue, act, place_order


def is_never_stored(response: httpx.Response) -> bool:
    return response.headers.get_list("cache-control") == ["no-store"]


async def test_placing_showing_and_listing_orders_are_never_stored(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    mug = await catalogue.add()

    placed = await place_order(orders_client, alice, (mug, 1))
    shown = await orders_client.get(f"/orders/{placed.json()['id']}", headers=alice)
    listed = await orders_client.get("/orders", headers=alice)

    assert [placed.status_code, shown.status_code, listed.status_code] == [201, 200, 200]
    assert all(is_never_stored(response) for response in (placed, shown, listed))


async def test_an_idempotent_replay_is_never_stored(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    mug = await catalogue.add()
    body = {"items": [{"product_id": mug["id"], "quantity": 1}]}
    headers = {**alice, "Idempotency-Key": f"key-{uuid.uuid4()}"}

    first = await orders_client.post("/orders", json=body, headers=headers)
    replayed = await orders_client.post("/orders", json=body, headers=headers)

    assert replayed.headers["idempotent-replayed"] == "true"
    assert is_never_stored(first)
    assert is_never_stored(replayed)


async def test_changing_an_order_and_every_action_are_never_stored(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    admin: dict[str, str],
) -> None:
    mug = await catalogue.add()
    order = (await place_order(orders_client, alice, (mug, 1))).json()
    items = {"items": [{"product_id": mug["id"], "quantity": 2}]}
    changed = await orders_client.patch(f"/orders/{order['id']}", json=items, headers=alice)
    paid = await act(orders_client, alice, order, "pay")
    shipped = await act(orders_client, admin, order, "ship")
    delivered = await act(orders_client, admin, order, "deliver")
    other = (await place_order(orders_client, alice, (mug, 1))).json()
    cancelled = await act(orders_client, alice, other, "cancel")

    answers = [changed, paid, shipped, delivered, cancelled]
    assert [response.status_code for response in answers] == [200] * 5
    assert all(is_never_stored(response) for response in answers)


async def test_refusals_about_orders_are_never_stored(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
) -> None:
    mug = await catalogue.add(stock=1)
    order = (await place_order(orders_client, alice, (mug, 1))).json()

    refusals = [
        await orders_client.get(f"/orders/{order['id']}", headers=bob),  # not bob's
        await orders_client.get("/orders"),  # no token
        await place_order(orders_client, alice, (mug, 1)),  # out of stock
        await orders_client.post("/orders", json={"items": []}, headers=alice),
        await act(orders_client, alice, order, "ship"),  # admins ship
        await act(orders_client, alice, order, "pay", **{"If-Match": '"9"'}),
    ]

    assert [response.status_code for response in refusals] == [404, 401, 409, 422, 403, 412]
    assert all(is_never_stored(response) for response in refusals)


@pytest.mark.parametrize("listing", [False, True], ids=["one", "list"])
async def test_the_catalogue_says_nothing_about_caching(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str], listing: bool
) -> None:
    mug = await catalogue.add()

    response = await orders_client.get(
        "/products" if listing else f"/products/{mug['id']}", headers=alice
    )

    assert response.status_code == 200
    assert "cache-control" not in response.headers
