"""The feed's order on Postgres, where transactions commit in another order than they number
their events: no event is ever skipped, each order's and product's events follow its
versions, and every page is read from an index in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from order_service.events import stock_events
from order_service.models import Event
from order_service.orders import place_order
from order_service.products import add_product
from order_service.records import AggregateType, EventRecord, EventType, Requested
from order_service.store import Store
from order_service.store.events import feed_parameters, feed_query, insert_events, read_feed
from order_service.store.sql import SQLAlchemyConnection, query
from order_service.store.stock import change_stock
from shared.cursors import SequenceCursor
from shared.database import create_engine
from shared.settings import DatabaseSettings

SCOPE = "test"
DEADLINE_SECONDS = 20.0


@pytest.fixture
async def store(postgres_orders_database_url: str) -> AsyncIterator[Store]:
    engine = create_engine(DatabaseSettings(database_url=postgres_orders_database_url))
    async with Store(engine) as store:
        yield store


def _event(aggregate_id: uuid.UUID | None = None) -> EventRecord:
    return EventRecord(
        id=uuid.uuid4(),
        type=EventType.PRODUCT_STOCK_CHANGED,
        occurred_at=datetime.now(UTC),
        aggregate_type=AggregateType.PRODUCT,
        aggregate_id=aggregate_id or uuid.uuid4(),
        aggregate_version=1,
        user_id=None,
        data={},
    )


async def _position_of(connection: AsyncConnection, event: EventRecord) -> int:
    position = await connection.scalar(select(Event.position).where(Event.id == event.id))
    assert position is not None
    return position


async def _feed(store: Store, after: str | None = None) -> tuple[list[uuid.UUID], str | None]:
    async with store.reading() as connection:
        page = await read_feed(
            connection, kinds=None, user_id=None, after=after, limit=100, scope=SCOPE
        )
    return [event.id for event in page.items], page.next_cursor


async def _feed_once_it_holds(
    store: Store, wanted: set[uuid.UUID], after: str | None = None
) -> list[uuid.UUID]:
    async with asyncio.timeout(DEADLINE_SECONDS):
        # Polled: other transactions on the server hold the feed back for a moment.
        while not wanted <= set(ids := (await _feed(store, after))[0]):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return ids


async def test_an_event_committed_after_a_higher_numbered_one_is_never_skipped(
    store: Store,
) -> None:
    earlier, later = _event(), _event()
    async with store.engine.connect() as first, store.engine.connect() as second:
        await first.begin()
        await insert_events(SQLAlchemyConnection(first), [earlier])
        await second.begin()
        await insert_events(SQLAlchemyConnection(second), [later])
        assert await _position_of(second, later) > await _position_of(first, earlier)
        await second.commit()

        # The later-numbered event has committed; the earlier-numbered one may still come:
        # the feed holds the later one back instead of letting a reader page past the gap.
        seen, cursor = await _feed(store)
        assert later.id not in seen
        await first.commit()

    assert await _feed_once_it_holds(store, {earlier.id, later.id}, after=cursor) == [
        earlier.id,
        later.id,
    ]


async def test_a_rolled_back_event_is_never_in_the_feed(store: Store) -> None:
    gone, kept = _event(), _event()
    async with store.engine.connect() as connection:
        await connection.begin()
        await insert_events(SQLAlchemyConnection(connection), [gone])
        await connection.rollback()
    async with store.writing() as connection:
        await insert_events(connection, [kept])

    assert gone.id not in await _feed_once_it_holds(store, {kept.id})


async def test_a_products_events_follow_its_versions_when_the_later_transaction_began_first(
    store: Store,
) -> None:
    alice = uuid.uuid4()
    mug = await add_product(
        store, sku=f"MUG-{uuid.uuid4().hex[:6]}", name="Mug", price=Decimal(1), stock=9
    )
    pen = await add_product(
        store, sku=f"PEN-{uuid.uuid4().hex[:6]}", name="Pen", price=Decimal(1), stock=9
    )

    async with store.writing() as late:
        # This transaction takes its id first (it moves the pen's stock)...
        await change_stock(late, {pen.id: 1})
        late_xid = await late.fetchval(query(text("SELECT pg_current_xact_id()::text::bigint")))
        # ...while another one, numbered after it, orders a mug and commits: mug version 2.
        await place_order(store, alice, [Requested(mug.id, 1)])
        # Then this one moves the mug's stock too: mug version 3, under the lower number.
        moved = await change_stock(late, {mug.id: 1})
        await insert_events(late, stock_events([moved[mug.id]]))
    async with store.engine.connect() as connection:
        early_xid = await connection.scalar(
            select(func.min(Event.xid_horizon)).where(Event.aggregate_id == mug.id)
        )

    assert late_xid < early_xid  # the case under test: numbered against the versions' order
    async with store.engine.connect() as connection:
        rows = await connection.execute(select(Event.id).where(Event.aggregate_id == mug.id))
        wanted = {row.id for row in rows}
    feed = await _feed_once_it_holds(store, wanted)
    async with store.engine.connect() as connection:
        rows = await connection.execute(select(Event.id, Event.aggregate_version))
        versions = {row.id: row.aggregate_version for row in rows}
    assert [versions[event_id] for event_id in feed if event_id in wanted] == [2, 3]


LIMIT = 20


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows the plan's scans read from the table's indexes: returned or thrown away."""
    read = 0
    if "Scan" in plan["Node Type"]:
        loops = plan.get("Actual Loops", 1)
        read += (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * loops
    for child in plan.get("Plans", []):
        read += _rows_read(child)
    return read


# 40,000 events, a few to a transaction, as long settled; most are stock changes, and half of
# the order events are one user's (a user with few has few to read).
_FILL = text(
    "INSERT INTO events (xid_horizon, id, type, occurred_at, aggregate_type, aggregate_id,"
    " aggregate_version, user_id, data)"
    " SELECT i / 4, gen_random_uuid(), kind, now(), split_part(kind, '.', 1),"
    " gen_random_uuid(), 1,"
    " CASE WHEN kind LIKE 'order.%' THEN"
    " CASE WHEN i % 2 = 0 THEN CAST(:user_id AS uuid) ELSE gen_random_uuid() END END, '{}'"
    " FROM (SELECT i, CASE WHEN i % 100 < 86 THEN 'product.stock_changed'"
    " ELSE (CAST(:rare AS text[]))[1 + i % 7] END AS kind"
    " FROM generate_series(1, 40000) AS i) AS generated"
)


async def _fill_with_events(connection: AsyncConnection, user_id: uuid.UUID) -> None:
    """Every filter matches many more events than a page, and few of all."""
    rare = [kind.value for kind in EventType if kind is not EventType.PRODUCT_STOCK_CHANGED]
    await connection.execute(_FILL, {"rare": rare, "user_id": str(user_id)})


@pytest.mark.parametrize(
    ("kinds", "is_users"),
    [
        (None, False),
        ({EventType.ORDER_PAID}, False),
        ({EventType.ORDER_PAID, EventType.PRODUCT_OUT_OF_STOCK}, False),
        ({EventType.ORDER_SHIPPED}, True),
        ({kind for kind in EventType if kind.startswith("order.")}, True),
    ],
    ids=["everything", "one-type", "two-types", "a-users-type", "a-users-all"],
)
async def test_a_page_reads_a_page_worth_of_rows_from_an_index_in_order(
    store: Store, kinds: set[EventType] | None, is_users: bool
) -> None:
    user_id = uuid.uuid4()
    async with store.engine.begin() as connection:
        await _fill_with_events(connection, user_id)
    async with store.engine.connect() as connection:
        await connection.execute(text("ANALYZE events"))
        # From the middle of the feed: as much before the page as after it.
        middle = (
            await connection.execute(
                select(Event.xid_horizon, Event.position)
                .order_by(Event.position)
                .offset(20_000)
                .limit(1)
            )
        ).one()
        statement = feed_query(
            "postgresql", kinds=len(kinds) if kinds else None, is_users=is_users, is_after=True
        ).params(
            feed_parameters(
                kinds=kinds,
                user_id=user_id if is_users else None,
                after=SequenceCursor(middle.xid_horizon, middle.position),
                limit=LIMIT,
            )
        )
        sql = statement.compile(
            dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
            compile_kwargs={"literal_binds": True},
        )
        explained = await connection.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))

    [plan] = explained.scalar_one()
    # One ordered index range per type, each stopped at a page: nothing read to sort or skip.
    arms = len(kinds) if kinds else 1
    assert _rows_read(plan["Plan"]) <= arms * (LIMIT + 1)
