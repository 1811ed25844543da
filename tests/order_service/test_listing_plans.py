"""Every listing the API offers reads a page's worth of rows from an index, in order, however
many rows there are and however they are distributed: proven on Postgres by the plans of the
store's own statements (`EXPLAIN ANALYZE`), on a database of skewed data that the planner
knows (ANALYZE). A heavy user owns a twentieth of the orders, the newer half of them pending:
without an index on (user, status, time), a page of their paid orders reads past all of
those."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from bench.scale.load import HEAVY_USER_ID, load, user_id
from order_service.events import ORDER_EVENT_TYPES
from order_service.records import EventType
from order_service.store.events import feed_parameters, feed_statement
from order_service.store.idempotency_keys import READ_KEY
from order_service.store.orders import orders_page_statement
from order_service.store.products import PRODUCT_PAGES
from order_service.store.sql import Query
from shared.cursors import SequenceCursor
from tests.support.postgres import Databases

ORDERS = 40_000
PAGE = 20
# What a page may read: its rows and the one more that tells whether a next page exists.
ROWS_WANTED = PAGE + 1
LISTED_TABLES = frozenset({"orders", "products", "events"})


@dataclass(frozen=True)
class Loaded:
    dsn: str
    # Where a deep page begins: the (created_at, id) of a row far down each listing.
    deep: dict[str, tuple[datetime, uuid.UUID]]
    deep_event: SequenceCursor


async def _deep_positions(dsn: str) -> Loaded:
    connection = await asyncpg.connect(dsn)
    try:
        deep: dict[str, tuple[datetime, uuid.UUID]] = {}
        for name, where in {
            "orders": "TRUE",
            "paid": "status = 'paid'",
            "heavy": f"user_id = '{HEAVY_USER_ID}'",
            "heavy_paid": f"user_id = '{HEAVY_USER_ID}' AND status = 'paid'",
        }.items():
            row = await connection.fetchrow(
                f"SELECT created_at, id FROM orders WHERE {where}"  # noqa: S608 - ours
                " ORDER BY created_at DESC, id DESC OFFSET 50 LIMIT 1"
            )
            deep[name] = (row["created_at"], row["id"])
        row = await connection.fetchrow(
            "SELECT created_at, id FROM products ORDER BY created_at DESC, id DESC OFFSET 500"
            " LIMIT 1"
        )
        deep["products"] = (row["created_at"], row["id"])
        event = await connection.fetchrow(
            "SELECT xid_horizon, position FROM events ORDER BY xid_horizon, position"
            " OFFSET 5000 LIMIT 1"
        )
        return Loaded(dsn, deep, SequenceCursor(event["xid_horizon"], event["position"]))
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def loaded(databases: Databases, orders_template: str) -> Iterator[Loaded]:
    """A migrated database with a year of skewed orders, analysed, for the whole module."""
    name = databases.create("test_plans", template=orders_template)
    dsn = databases.url_of(name)
    try:
        asyncio.run(load(dsn, ORDERS))
        yield asyncio.run(_deep_positions(dsn))
    finally:
        databases.drop(name)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


async def _plan(dsn: str, statement: Query, parameters: dict[str, Any]) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(dsn)
    try:
        explained = await connection.fetchval(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement.sql}",
            *statement.args(parameters),
        )
    finally:
        await connection.close()
    return list(_nodes(json.loads(explained)[0]["Plan"]))


def _assert_reads_a_page(
    nodes: list[dict[str, Any]], *, ranges: int = 1, discarded: int = ROWS_WANTED
) -> None:
    """Each listed table is read through an index, at most a page's worth of rows (from each
    of `ranges` merged index ranges), and no row is read only to be discarded beyond
    `discarded`. (When all there is fits in a page, the planner may fetch it through a bitmap
    and sort it: that reads no more either.)"""
    scans = [node for node in nodes if node.get("Relation Name") in LISTED_TABLES]
    assert scans, nodes
    for scan in scans:
        assert scan["Node Type"] in {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}, scan
    removed = sum(
        (node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0))
        * node["Actual Loops"]
        for node in nodes
    )
    assert removed <= discarded, nodes
    read = sum(scan["Actual Rows"] * scan["Actual Loops"] for scan in scans)
    assert read <= ROWS_WANTED * ranges, nodes
    assert not any(node["Node Type"] == "Seq Scan" for node in nodes), nodes


ORDER_SHAPES = {
    "a user's orders": (True, False, None),
    "a user's orders, deep page": (True, False, "heavy"),
    "a user's orders in one status (and an admin's ?user_id=&status=)": (True, True, None),
    "a user's orders in one status, deep page": (True, True, "heavy_paid"),
    "everyone's orders (admin)": (False, False, None),
    "everyone's orders, deep page": (False, False, "orders"),
    "everyone's orders in one status (admin)": (False, True, None),
    "everyone's orders in one status, deep page": (False, True, "paid"),
}


@pytest.mark.parametrize("shape", ORDER_SHAPES.values(), ids=ORDER_SHAPES.keys())
async def test_a_page_of_orders_reads_a_page_of_rows_from_an_index(
    loaded: Loaded, shape: tuple[bool, bool, str | None]
) -> None:
    is_one_owners, is_one_status, deep = shape
    parameters: dict[str, Any] = {
        "owner": HEAVY_USER_ID,
        "status": "paid",
        "rows_wanted": ROWS_WANTED,
    }
    if deep is not None:
        parameters["after_created_at"], parameters["after_id"] = loaded.deep[deep]
    statement = orders_page_statement(is_one_owners, is_one_status, deep is not None)

    nodes = await _plan(loaded.dsn, statement, parameters)

    orders_read = [node for node in nodes if node.get("Relation Name") == "orders"]
    assert sum(node["Actual Rows"] for node in orders_read) == ROWS_WANTED
    _assert_reads_a_page([node for node in nodes if node.get("Relation Name") != "order_lines"])
    lines = [node for node in nodes if node.get("Relation Name") == "order_lines"]
    assert [node["Node Type"] for node in lines] == ["Index Scan"]
    assert lines[0]["Actual Rows"] * lines[0]["Actual Loops"] == 2 * ROWS_WANTED


@pytest.mark.parametrize("is_deep", [False, True], ids=["first page", "deep page"])
async def test_a_page_of_products_reads_a_page_of_rows_from_an_index(
    loaded: Loaded, is_deep: bool
) -> None:
    parameters: dict[str, Any] = {"rows_wanted": ROWS_WANTED}
    if is_deep:
        parameters["after_created_at"], parameters["after_id"] = loaded.deep["products"]

    nodes = await _plan(loaded.dsn, PRODUCT_PAGES[is_deep], parameters)

    _assert_reads_a_page(nodes)


# A user's feed, for a user with a user's share of the events. (The heavy user owns a
# twentieth of them: the planner may rightly read the feed's own order then, twenty rows for
# each of theirs.)
TYPICAL_USER_ID = user_id(1)
FEED_SHAPES = {
    "every event (admin)": (None, None),
    "one kind (admin)": ({EventType.ORDER_PLACED}, None),
    "two kinds, merged (admin)": ({EventType.ORDER_PLACED, EventType.ORDER_PAID}, None),
    "a user's events (every order kind)": (ORDER_EVENT_TYPES, TYPICAL_USER_ID),
    "a user's events of one kind": ({EventType.ORDER_PLACED}, TYPICAL_USER_ID),
}


@pytest.mark.parametrize("is_deep", [False, True], ids=["first page", "deep page"])
@pytest.mark.parametrize("shape", FEED_SHAPES.values(), ids=FEED_SHAPES.keys())
async def test_a_page_of_the_feed_reads_a_page_of_rows_from_an_index(
    loaded: Loaded, shape: tuple[frozenset[EventType] | None, uuid.UUID | None], is_deep: bool
) -> None:
    kinds, user_id = shape
    after = loaded.deep_event if is_deep else None
    statement = feed_statement(
        "postgresql", len(kinds) if kinds else None, user_id is not None, is_deep
    )
    parameters = feed_parameters(kinds=kinds, user_id=user_id, after=after, limit=ROWS_WANTED)

    nodes = await _plan(loaded.dsn, statement, parameters)

    _assert_reads_a_page(
        nodes,
        ranges=len(kinds) if kinds else 1,
        discarded=await _walked_past(loaded.dsn, kinds) if kinds and not user_id else ROWS_WANTED,
    )


async def _walked_past(dsn: str, kinds: frozenset[EventType]) -> int:
    """What a page of `kinds` may discard: a kind as common as a third of the feed is read by
    walking the feed's own index past the other kinds' events, which lie on the same pages
    (the planner's choice, as cheap in buffers); a rare one is read through its kind's index.
    So the most common of `kinds` may walk past its share's worth of others."""
    connection = await asyncpg.connect(dsn)
    try:
        share: float | None = await connection.fetchval(
            "SELECT max(n)::float / (SELECT count(*) FROM events)"
            " FROM (SELECT count(*) AS n FROM events WHERE type = ANY($1::text[]) GROUP BY type) k",
            sorted(kinds),
        )
    finally:
        await connection.close()
    if not share:
        return ROWS_WANTED
    return max(ROWS_WANTED, int(ROWS_WANTED * (1 / share - 1)) + 1)


async def test_a_replay_reads_its_key_and_its_orders_placed_event_through_indexes(
    loaded: Loaded,
) -> None:
    connection = await asyncpg.connect(loaded.dsn)
    try:
        key = await connection.fetchrow("SELECT user_id, key FROM idempotency_keys LIMIT 1")
    finally:
        await connection.close()

    nodes = await _plan(loaded.dsn, READ_KEY, {"user_id": key["user_id"], "key": key["key"]})

    # (The keys are the last day's few here, one page: the planner may read it whole.)
    scans = {node["Relation Name"]: node for node in nodes if "Relation Name" in node}
    assert scans["events"]["Index Name"] == "ix_events_order_placed_aggregate_id"
    assert scans["events"]["Actual Rows"] == 1
