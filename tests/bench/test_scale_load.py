"""The scale benchmark's data is written as the service writes it: every order with its
three events (placed, and each product's stock changed) in one go, so that the events' pages
are filled as the service fills them, and a vacuum after the load leaves no page with room
for the next order's events.

Loading the `order.placed` events alone left some 500 bytes free on nearly every page, which
the vacuum then recorded: each new order's stock events went into a page a year old, read from
disk and written whole into the WAL after the next checkpoint (3 reads and 3 full-page images
an order at 3M orders, 30 KB of WAL against 5 KB), a state the service's own writes never
leave behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from bench.scale.load import load
from tests.support.postgres import Databases

ORDERS = 5_000
# Less than the smallest event the service writes (a product's, some 330 bytes with its
# header): a page with this much free takes the next order's stock events.
ROOM_FOR_AN_EVENT = 300


@pytest.fixture(scope="module")
def loaded_dsn(databases: Databases, orders_template: str) -> Iterator[str]:
    name = databases.create("test_scale_load", template=orders_template)
    try:
        dsn = databases.url_of(name)
        asyncio.run(load(dsn, ORDERS))
        yield dsn
    finally:
        databases.drop(name)


async def test_every_order_has_its_placed_event_and_a_stock_event_for_each_line(
    loaded_dsn: str,
) -> None:
    connection = await asyncpg.connect(loaded_dsn)
    try:
        counts = dict(await connection.fetch("SELECT type, count(*) FROM events GROUP BY type"))
        # Placed, then its first line's product, then its second's, one after the other.
        written_together = await connection.fetchval(
            """SELECT count(*)
               FROM events AS placed
               JOIN order_lines AS line1 ON line1.order_id = placed.aggregate_id
                                        AND line1.position = 0
               JOIN order_lines AS line2 ON line2.order_id = placed.aggregate_id
                                        AND line2.position = 1
               JOIN events AS first ON first.position = placed.position + 1
                                   AND first.aggregate_id = line1.product_id
               JOIN events AS second ON second.position = placed.position + 2
                                    AND second.aggregate_id = line2.product_id
               WHERE placed.type = 'order.placed'"""
        )
    finally:
        await connection.close()

    assert counts == {"order.placed": ORDERS, "product.stock_changed": 2 * ORDERS}
    assert written_together == ORDERS


async def test_no_page_of_events_has_room_left_for_an_event_after_the_load(
    loaded_dsn: str,
) -> None:
    connection = await asyncpg.connect(loaded_dsn)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_freespacemap")
        pages, with_room = await connection.fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE avail >= $1) FROM pg_freespace('events')",
            ROOM_FOR_AN_EVENT,
        )
    finally:
        await connection.close()

    # The last page may have room: the next order's events go there, as they would.
    assert pages > 100
    assert with_room <= 1
