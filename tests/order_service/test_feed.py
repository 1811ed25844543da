"""`GET /events`: the feed, oldest first, page by page; an admin's has everything, a user's the
events of their own orders; filtered by type."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.order_service.conftest import Catalogue, about, act, feed_when, place_order, read_feed


async def _orders_with_events(
    catalogue: Catalogue, client: httpx.AsyncClient, who: dict[str, str], count: int
) -> list[dict[str, Any]]:
    """`count` orders of `who`, each placed and paid."""
    product = await catalogue.add(stock=100)
    orders = []
    for _ in range(count):
        order = (await place_order(client, who, (product, 1))).json()
        await act(client, who, order, "pay")
        orders.append(order)
    return orders


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return [event["id"] for event in events]


async def test_pages_follow_each_other_oldest_first_and_the_last_cursor_waits_for_more(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    orders = await _orders_with_events(catalogue, orders_client, alice, 3)
    everything = await feed_when(
        orders_client, admin, lambda events: len(about(events, orders[-1])) == 2
    )

    paged, cursor = [], None
    for _ in range(len(everything)):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await orders_client.get("/events", params=params, headers=admin)).json()
        paged.extend(page["items"])
        cursor = page["next_cursor"]
        if not page["items"]:
            break

    assert _ids(paged) == _ids(everything)
    # Events come in the order things happened: placed before paid, order after order.
    order_events = [event for event in paged if event["aggregate"]["type"] == "order"]
    assert [(event["aggregate"]["id"], event["type"]) for event in order_events] == [
        (order["id"], kind) for order in orders for kind in ("order.placed", "order.paid")
    ]
    # At the end the cursor stays where it is, and brings what happens next.
    assert cursor is not None
    later = await place_order(orders_client, alice, (await catalogue.add(), 1))
    resumed = await feed_when(
        orders_client, admin, lambda events: bool(about(events, later.json())), cursor=cursor
    )
    assert _ids(resumed)[0] not in _ids(everything)
    assert about(resumed, later.json())[0]["type"] == "order.placed"


async def test_an_empty_feed_has_no_cursor_yet(
    orders_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    page = (await orders_client.get("/events", headers=admin)).json()

    assert page == {"items": [], "next_cursor": None}


async def test_a_user_reads_the_events_of_their_own_orders_only(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    bob: dict[str, str],
) -> None:
    [alices] = await _orders_with_events(catalogue, orders_client, alice, 1)
    [bobs] = await _orders_with_events(catalogue, orders_client, bob, 1)
    await feed_when(orders_client, admin, lambda events: len(about(events, bobs)) == 2)

    seen_by_alice = await read_feed(orders_client, alice)

    assert {event["aggregate"]["id"] for event in seen_by_alice} == {alices["id"]}
    assert [event["type"] for event in seen_by_alice] == ["order.placed", "order.paid"]
    only_products = await orders_client.get(
        "/events", params={"type": "product.stock_changed"}, headers=alice
    )
    assert only_products.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "query",
    [
        [("type", "order.paid"), ("type", "product.stock_changed")],
        [("type", "order.paid,product.stock_changed")],
        [("type", "product.stock_changed, order.paid")],
    ],
    ids=["repeated", "comma-separated", "spaced"],
)
async def test_types_filter_the_feed_repeated_or_comma_separated(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    query: list[tuple[str, str]],
) -> None:
    [order] = await _orders_with_events(catalogue, orders_client, alice, 1)
    everything = await feed_when(
        orders_client, admin, lambda events: len(about(events, order)) == 2
    )

    response = await orders_client.get("/events", params=[*query, ("limit", "100")], headers=admin)

    assert response.status_code == 200
    expected = [e for e in everything if e["type"] in {"order.paid", "product.stock_changed"}]
    assert _ids(response.json()["items"]) == _ids(expected)


async def test_a_filtered_feed_pages_through_its_types_in_order(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    orders = await _orders_with_events(catalogue, orders_client, alice, 3)
    kinds = "order.placed,order.paid"
    expected = await feed_when(
        orders_client, alice, lambda events: len(about(events, orders[-1])) == 2, type=kinds
    )

    paged, cursor = [], None
    while True:
        params: dict[str, str | int] = {"type": kinds, "limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = (await orders_client.get("/events", params=params, headers=alice)).json()
        paged.extend(page["items"])
        cursor = page["next_cursor"]
        if len(page["items"]) < 4:
            break

    assert _ids(paged) == _ids(expected)
    assert len(paged) == 6


@pytest.mark.parametrize(
    "params",
    [
        {"type": "order.exploded"},
        {"limit": "0"},
        {"limit": "101"},
        {"cursor": "not-a-cursor"},
    ],
    ids=["unknown-type", "limit-0", "limit-101", "cursor"],
)
async def test_bad_input_is_a_422_problem(
    orders_client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str]
) -> None:
    response = await orders_client.get("/events", params=params, headers=admin)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


async def test_a_cursor_is_good_only_for_the_feed_that_gave_it(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    [order] = await _orders_with_events(catalogue, orders_client, alice, 1)
    await feed_when(orders_client, alice, lambda events: len(about(events, order)) == 2)
    page = (await orders_client.get("/events", params={"limit": 1}, headers=alice)).json()

    elsewhere = [
        await orders_client.get("/events", params={"cursor": page["next_cursor"]}, headers=admin),
        await orders_client.get(
            "/events",
            params={"cursor": page["next_cursor"], "type": "order.paid"},
            headers=alice,
        ),
    ]

    assert [response.status_code for response in elsewhere] == [422, 422]


async def test_the_feed_needs_a_token(orders_client: httpx.AsyncClient) -> None:
    response = await orders_client.get("/events")

    assert response.status_code == 401
