"""`PATCH /orders/{id}`: replacing a pending order's lines moves stock by the difference."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.order_service.conftest import Catalogue, act, place_order, stock_of


async def change(
    client: httpx.AsyncClient,
    who: dict[str, str],
    order: dict[str, Any],
    *lines: tuple[dict[str, Any], int],
    **headers: str,
) -> httpx.Response:
    items = [{"product_id": product["id"], "quantity": quantity} for product, quantity in lines]
    return await client.patch(
        f"/orders/{order['id']}", json={"items": items}, headers={**who, **headers}
    )


@pytest.fixture
async def mug(catalogue: Catalogue) -> dict[str, Any]:
    return await catalogue.add(price="12.50", stock=10)


@pytest.fixture
async def pen(catalogue: Catalogue) -> dict[str, Any]:
    return await catalogue.add(price="0.99", stock=5)


@pytest.fixture
async def order(
    orders_client: httpx.AsyncClient, alice: dict[str, str], mug: dict[str, Any]
) -> dict[str, Any]:
    placed: dict[str, Any] = (await place_order(orders_client, alice, (mug, 3))).json()
    return placed


async def test_new_lines_move_stock_by_the_difference(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    order: dict[str, Any],
    mug: dict[str, Any],
    pen: dict[str, Any],
) -> None:
    response = await change(orders_client, alice, order, (pen, 2), (mug, 1))

    assert response.status_code == 200
    changed = response.json()
    assert [(line["sku"], line["quantity"]) for line in changed["items"]] == [
        (pen["sku"], 2),
        (mug["sku"], 1),
    ]
    assert changed["total"] == "14.48"
    assert changed["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert await stock_of(orders_client, alice, mug["id"]) == 9
    assert await stock_of(orders_client, alice, pen["id"]) == 3


async def test_dropping_a_product_gives_its_units_back(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    order: dict[str, Any],
    mug: dict[str, Any],
    pen: dict[str, Any],
) -> None:
    await change(orders_client, alice, order, (pen, 1))

    assert await stock_of(orders_client, alice, mug["id"]) == 10
    assert await stock_of(orders_client, alice, pen["id"]) == 4


async def test_the_total_is_always_the_sum_of_the_lines(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    order: dict[str, Any],
    mug: dict[str, Any],
    pen: dict[str, Any],
) -> None:
    changed = (await change(orders_client, alice, order, (mug, 7), (pen, 3))).json()

    line_totals = [Decimal(line["line_total"]) for line in changed["items"]]
    assert Decimal(changed["total"]) == sum(line_totals) == Decimal("90.47")


async def test_changed_lines_take_todays_prices(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    admin: dict[str, str],
    order: dict[str, Any],
    mug: dict[str, Any],
) -> None:
    await orders_client.patch(f"/products/{mug['id']}", json={"price": "15.00"}, headers=admin)

    changed = (await change(orders_client, alice, order, (mug, 2))).json()

    assert changed["items"][0]["unit_price"] == "15.00"
    assert changed["total"] == "30.00"


async def test_out_of_stock_is_409_and_changes_nothing(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    order: dict[str, Any],
    mug: dict[str, Any],
    pen: dict[str, Any],
) -> None:
    response = await change(orders_client, alice, order, (mug, 1), (pen, 6))

    assert response.status_code == 409
    assert response.json()["type"].endswith("/out-of-stock")
    current = (await orders_client.get(f"/orders/{order['id']}", headers=alice)).json()
    assert (current["items"], current["version"]) == (order["items"], 1)
    assert await stock_of(orders_client, alice, mug["id"]) == 7
    assert await stock_of(orders_client, alice, pen["id"]) == 5


async def test_only_a_pending_order_can_be_changed(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    order: dict[str, Any],
    mug: dict[str, Any],
) -> None:
    await act(orders_client, alice, order, "pay")

    response = await change(orders_client, alice, order, (mug, 1))

    assert response.status_code == 409
    assert response.json()["type"].endswith("/order-not-modifiable")
    assert await stock_of(orders_client, alice, mug["id"]) == 7


async def test_if_match_guards_against_lost_updates(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    order: dict[str, Any],
    mug: dict[str, Any],
) -> None:
    first = await change(orders_client, alice, order, (mug, 2), **{"If-Match": '"1"'})
    stale = await change(orders_client, alice, order, (mug, 4), **{"If-Match": '"1"'})
    weak = await change(orders_client, alice, order, (mug, 4), **{"If-Match": 'W/"2"'})
    any_version = await change(orders_client, alice, order, (mug, 5), **{"If-Match": "*"})

    assert (first.status_code, stale.status_code, weak.status_code) == (200, 412, 412)
    assert any_version.status_code == 200
    assert await stock_of(orders_client, alice, mug["id"]) == 5


async def test_concurrent_changes_with_one_etag_let_one_through(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    order: dict[str, Any],
    mug: dict[str, Any],
) -> None:
    responses = await asyncio.gather(
        *(
            change(orders_client, alice, order, (mug, quantity), **{"If-Match": '"1"'})
            for quantity in range(1, 6)
        )
    )

    assert sorted(r.status_code for r in responses) == [200, 412, 412, 412, 412]
    [winner] = [r.json() for r in responses if r.status_code == 200]
    expected_stock = 10 - winner["items"][0]["quantity"]
    assert await stock_of(orders_client, alice, mug["id"]) == expected_stock


async def test_an_admin_may_change_any_order_and_others_get_404(
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    bob: dict[str, str],
    order: dict[str, Any],
    mug: dict[str, Any],
) -> None:
    assert (await change(orders_client, bob, order, (mug, 1))).status_code == 404
    assert (await change(orders_client, admin, order, (mug, 1))).status_code == 200


@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"product_id": "00000000-0000-0000-0000-000000000000", "quantity": 1}],
        [{"product_id": "{mug}", "quantity": 0}],
        [{"product_id": "{mug}", "quantity": 1}, {"product_id": "{mug}", "quantity": 2}],
    ],
    ids=["empty", "unknown-product", "zero-quantity", "duplicate-lines"],
)
async def test_invalid_changes_are_422_and_change_nothing(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    order: dict[str, Any],
    mug: dict[str, Any],
    items: list[dict[str, Any]],
) -> None:
    body = {
        "items": [
            {**item, "product_id": item["product_id"].format(mug=mug["id"])} for item in items
        ]
    }

    response = await orders_client.patch(f"/orders/{order['id']}", json=body, headers=alice)

    assert response.status_code == 422
    assert await stock_of(orders_client, alice, mug["id"]) == 7
