"""Every answer is one consistent snapshot, even while the data changes under it.

Writers change orders and products as fast as they can while readers list and read them;
every document read must be one state of its resource: an order's lines add up to its
total and are the lines its version had, a product's fields were written together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.order_service.conftest import Catalogue, place_order

# Enough changes for a reader to land between the statements of a torn read many times over.
CHANGES = 60
READERS = 3
DEADLINE_SECONDS = 90.0

Document = dict[str, Any]


Writer = Callable[[Callable[[], Awaitable[None]]], Awaitable[None]]


async def _concurrently(
    write: Writer, read: Callable[[], Awaitable[list[Document]]]
) -> list[Document]:
    """Run `write` once, with `READERS` readers reading over and over until it is done; what
    they read. The writer is given a wait for the readers' next read, to call between its
    changes: readers land between changes however busy the machine (a lone writer could
    otherwise run through them all before a reader is scheduled)."""
    is_writing = True
    has_read = asyncio.Event()
    seen: list[Document] = []

    async def keep_reading() -> None:
        while is_writing:
            seen.extend(await read())
            has_read.set()

    async def next_read() -> None:
        has_read.clear()
        await has_read.wait()

    async def write_then_stop() -> None:
        nonlocal is_writing
        try:
            await write(next_read)
        finally:
            is_writing = False

    async with asyncio.timeout(DEADLINE_SECONDS), asyncio.TaskGroup() as tasks:
        for _ in range(READERS):
            tasks.create_task(keep_reading())
        tasks.create_task(write_then_stop())
    return seen


def _lines_of(order: Document) -> list[tuple[str, int]]:
    return [(line["product_id"], line["quantity"]) for line in order["items"]]


def _check_order(order: Document, lines_by_version: dict[int, list[tuple[str, int]]]) -> None:
    line_totals = sum((Decimal(line["line_total"]) for line in order["items"]), Decimal(0))
    assert line_totals == Decimal(order["total"]), order
    assert _lines_of(order) == lines_by_version[order["version"]], order


@pytest.fixture
async def products(catalogue: Catalogue) -> list[Document]:
    return [await catalogue.add(price=price, stock=100_000) for price in ("1.00", "10.00")]


async def _order_changed_over_and_over(
    client: httpx.AsyncClient, who: dict[str, str], products: list[Document]
) -> tuple[Writer, dict[int, list[tuple[str, int]]]]:
    """An order, and a writer that gives it new lines `CHANGES` times: each version has lines
    (and so a total) of its own. Returns the writer and, once it has run, every version's
    lines."""
    cheap, dear = products
    placed = (await place_order(client, who, (cheap, 1), (dear, 1))).json()
    lines_by_version = {placed["version"]: _lines_of(placed)}

    async def write(next_read: Callable[[], Awaitable[None]]) -> None:
        for change in range(CHANGES):
            items = [
                {"product_id": cheap["id"], "quantity": 1 + change % 7},
                {"product_id": dear["id"], "quantity": 1 + change % 3},
            ][: 1 + change % 2]
            response = await client.patch(
                f"/orders/{placed['id']}", json={"items": items}, headers=who
            )
            assert response.status_code == 200, response.text
            changed = response.json()
            lines_by_version[changed["version"]] = _lines_of(changed)
            await next_read()

    return write, lines_by_version


async def test_every_listed_order_is_one_state_of_it(
    orders_client: httpx.AsyncClient, alice: dict[str, str], products: list[Document]
) -> None:
    # Orders around the one that changes, so that a page holds several.
    for _ in range(3):
        await place_order(orders_client, alice, (products[0], 1))
    write, lines_by_version = await _order_changed_over_and_over(orders_client, alice, products)

    async def list_orders() -> list[Document]:
        response = await orders_client.get("/orders?limit=10", headers=alice)
        assert response.status_code == 200, response.text
        items: list[Document] = response.json()["items"]
        return items

    listed = await _concurrently(write, list_orders)

    assert len(listed) > CHANGES
    for order in listed:
        if order["version"] > 1:  # the order that changed
            _check_order(order, lines_by_version)


async def test_every_order_read_is_one_state_of_it(
    orders_client: httpx.AsyncClient, alice: dict[str, str], products: list[Document]
) -> None:
    write, lines_by_version = await _order_changed_over_and_over(orders_client, alice, products)
    order_id = (await orders_client.get("/orders", headers=alice)).json()["items"][0]["id"]

    async def read_order() -> list[Document]:
        response = await orders_client.get(f"/orders/{order_id}", headers=alice)
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{response.json()["version"]}"'
        return [response.json()]

    read = await _concurrently(write, read_order)

    assert read
    for order in read:
        _check_order(order, lines_by_version)


async def test_every_listed_product_is_one_state_of_it(
    orders_client: httpx.AsyncClient,
    admin: dict[str, str],
    alice: dict[str, str],
    catalogue: Catalogue,
) -> None:
    product = await catalogue.add(name="v0", price="1.00", stock=0)
    await catalogue.add()

    async def write(next_read: Callable[[], Awaitable[None]]) -> None:
        for change in range(1, CHANGES + 1):
            # Name, price and stock change together: a reader must see all three or none.
            fields = {"name": f"v{change}", "price": f"{change}.00", "stock": change}
            response = await orders_client.patch(
                f"/products/{product['id']}", json=fields, headers=admin
            )
            assert response.status_code == 200, response.text
            await next_read()

    async def list_products() -> list[Document]:
        response = await orders_client.get("/products", headers=alice)
        assert response.status_code == 200, response.text
        items: list[Document] = response.json()["items"]
        return [item for item in items if item["id"] == product["id"]]

    listed = await _concurrently(write, list_products)

    assert listed
    for seen in listed:
        version = int(seen["name"].removeprefix("v"))
        assert (Decimal(seen["price"]), seen["stock"]) == (Decimal(max(version, 1)), version)
