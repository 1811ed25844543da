"""The outbox: every change of an order or of a product's stock writes its events in its own
transaction, each with the resource as the API shows it at that version."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from order_service.models import Event
from tests.order_service.conftest import Catalogue, act, events_about, place_order
from tests.support.database import session_on


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


async def _event_count(database_url: str) -> int:
    async with session_on(database_url) as session:
        count: int = await session.scalar(select(func.count()).select_from(Event)) or 0
        return count


async def test_placing_an_order_writes_it_placed_and_each_products_stock_changed(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    mug, pen = await catalogue.add(stock=10), await catalogue.add(stock=5)

    order = (await place_order(orders_client, alice, (mug, 2), (pen, 1))).json()

    [placed] = await events_about(orders_client, admin, order, 1)
    assert placed["type"] == "order.placed"
    assert placed["aggregate"] == {"type": "order", "id": order["id"], "version": 1}
    assert placed["data"] == order
    assert placed["occurred_at"] == order["updated_at"]
    uuid.UUID(placed["id"])
    for product in (mug, pen):
        [changed] = await events_about(orders_client, admin, product, 1)
        now = (await orders_client.get(f"/products/{product['id']}", headers=alice)).json()
        assert changed["type"] == "product.stock_changed"
        assert changed["aggregate"] == {"type": "product", "id": product["id"], "version": 2}
        assert changed["data"] == now


async def test_each_step_of_an_orders_life_is_an_event_showing_it_as_get_does(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    mug = await catalogue.add(stock=10)
    order = (await place_order(orders_client, alice, (mug, 1))).json()
    items = {"items": [{"product_id": mug["id"], "quantity": 3}]}
    steps = [
        ("order.changed", orders_client.patch(f"/orders/{order['id']}", json=items, headers=alice)),
        ("order.paid", act(orders_client, alice, order, "pay")),
        ("order.shipped", act(orders_client, admin, order, "ship")),
        ("order.delivered", act(orders_client, admin, order, "deliver")),
    ]

    for count, (kind, step) in enumerate(steps, start=2):
        assert (await step).status_code == 200
        shown = (await orders_client.get(f"/orders/{order['id']}", headers=alice)).json()
        latest = (await events_about(orders_client, admin, order, count))[-1]
        assert latest["type"] == kind
        assert latest["aggregate"]["version"] == shown["version"]
        assert latest["data"] == shown

    history = await events_about(orders_client, admin, order, len(steps) + 1)
    assert kinds(history) == ["order.placed", *(kind for kind, _ in steps)]
    assert [event["aggregate"]["version"] for event in history] == [1, 2, 3, 4, 5]


async def test_changing_an_orders_lines_moves_only_the_stock_that_changed(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    mug, pen = await catalogue.add(stock=10), await catalogue.add(stock=10)
    order = (await place_order(orders_client, alice, (mug, 1), (pen, 1))).json()

    items = [{"product_id": mug["id"], "quantity": 1}, {"product_id": pen["id"], "quantity": 4}]
    await orders_client.patch(f"/orders/{order['id']}", json={"items": items}, headers=alice)

    pen_events = await events_about(orders_client, admin, pen, 2)
    assert [event["data"]["stock"] for event in pen_events] == [9, 6]
    assert kinds(await events_about(orders_client, admin, mug, 1)) == ["product.stock_changed"]


async def test_cancelling_gives_the_stock_back_as_events(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    mug = await catalogue.add(stock=10)
    order = (await place_order(orders_client, alice, (mug, 4))).json()

    cancelled = (await act(orders_client, alice, order, "cancel")).json()

    latest = (await events_about(orders_client, admin, order, 2))[-1]
    assert (latest["type"], latest["data"]) == ("order.cancelled", cancelled)
    restored = (await events_about(orders_client, admin, mug, 2))[-1]
    assert (restored["type"], restored["data"]["stock"]) == ("product.stock_changed", 10)
    assert restored["aggregate"]["version"] == 3


async def test_the_last_units_taken_make_a_product_out_of_stock(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    mug = await catalogue.add(stock=2)

    await place_order(orders_client, alice, (mug, 2))

    changed, out = await events_about(orders_client, admin, mug, 2)
    assert (changed["type"], out["type"]) == ("product.stock_changed", "product.out_of_stock")
    assert changed["data"] == out["data"]
    assert out["data"]["stock"] == 0
    assert out["aggregate"] == changed["aggregate"]


async def test_an_admins_stock_change_is_an_event_and_a_rename_is_not(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    mug = await catalogue.add(stock=5)
    url = f"/products/{mug['id']}"

    renamed = await orders_client.patch(url, json={"name": "Big mug"}, headers=admin)
    same_stock = await orders_client.patch(url, json={"stock": 5}, headers=admin)
    emptied = (await orders_client.patch(url, json={"stock": 0}, headers=admin)).json()

    assert (renamed.status_code, same_stock.status_code) == (200, 200)
    events = await events_about(orders_client, admin, mug, 2)
    assert kinds(events) == ["product.stock_changed", "product.out_of_stock"]
    # The rename and the unchanged stock were versions 2 and 3: the product changed.
    assert {event["aggregate"]["version"] for event in events} == {4}
    assert events[0]["data"] == emptied


async def test_an_order_that_fails_midway_leaves_no_event(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    orders_database_url: str,
) -> None:
    # Stock is taken in product id order: the first product's is taken, then the second fails.
    first, second = sorted(
        [await catalogue.add(stock=10), await catalogue.add(stock=10)],
        key=lambda product: uuid.UUID(product["id"]),
    )
    await orders_client.patch(f"/products/{second['id']}", json={"stock": 1}, headers=admin)
    before = await _event_count(orders_database_url)

    response = await place_order(orders_client, alice, (first, 1), (second, 2))

    assert response.status_code == 409
    assert await _event_count(orders_database_url) == before
    assert (await orders_client.get(f"/products/{first['id']}", headers=alice)).json()[
        "stock"
    ] == 10


async def test_a_refused_transition_leaves_no_event(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    order = (await place_order(orders_client, alice, (await catalogue.add(), 1))).json()
    await act(orders_client, alice, order, "pay")

    again = await act(orders_client, alice, order, "pay")

    assert again.status_code == 409
    events = await events_about(orders_client, admin, order, 2)
    assert kinds(events) == ["order.placed", "order.paid"]


async def test_a_replayed_order_is_not_placed_twice_in_the_events(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    mug = await catalogue.add()
    body = {"items": [{"product_id": mug["id"], "quantity": 1}]}
    keyed = {**alice, "Idempotency-Key": uuid.uuid4().hex}

    first = await orders_client.post("/orders", json=body, headers=keyed)
    replay = await orders_client.post("/orders", json=body, headers=keyed)

    assert replay.headers["idempotent-replayed"] == "true"
    assert kinds(await events_about(orders_client, admin, first.json(), 1)) == ["order.placed"]
    assert kinds(await events_about(orders_client, admin, mug, 1)) == ["product.stock_changed"]
