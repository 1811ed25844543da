"""The order service's clean-up, on Postgres and SQLite: expired idempotency keys, events past
their retention once the relay is done with them, and old webhook attempts, each in batches of
their own transactions; and the service running it on its own."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import delete, func, make_url, select, update

from order_service.app import create_app
from order_service.config import OrdersSettings
from order_service.housekeeping import (
    delete_expired_records,
    forget_old_attempts,
    forget_old_events,
)
from order_service.idempotency import forget_expired_keys
from order_service.models import (
    Event,
    IdempotencyKey,
    RelayCursor,
    WebhookAttempt,
    WebhookDelivery,
)
from order_service.records import (
    AggregateType,
    AttemptRecord,
    EndpointRecord,
    EventRecord,
    EventType,
)
from order_service.relay.queue import fan_out
from order_service.store import Store
from order_service.store.deliveries import DELETE_ATTEMPTS, DELIVERED, PENDING, insert_attempt
from order_service.store.events import DELETE_RELAYED, insert_events, read_feed
from order_service.store.idempotency_keys import DELETE_EXPIRED
from order_service.store.sql import Query
from order_service.store.webhooks import insert_endpoint
from shared.batched_delete import BATCH_SIZE
from shared.database import create_engine
from tests.order_service.conftest import FEED_DEADLINE_SECONDS, Catalogue
from tests.support.apps import app_client
from tests.support.database import session_on

NOW = datetime.now(UTC)
RETENTION = timedelta(days=30)
OLD = NOW - timedelta(days=40)
FEED_SCOPE = "events|*|*"


@pytest.fixture
async def store(orders_database_url: str) -> AsyncIterator[Store]:
    async with Store(create_engine(OrdersSettings(database_url=orders_database_url))) as store:
        yield store


async def place_keyed_orders(settings: OrdersSettings, admin: dict[str, str], keys: int) -> None:
    """`keys` orders placed through the API, each with an `Idempotency-Key` of its own."""
    async with app_client(create_app(settings), "http://orders.test") as client:
        product = await Catalogue(client, admin).add(stock=keys)
        body = {"items": [{"product_id": product["id"], "quantity": 1}]}
        for index in range(keys):
            response = await client.post(
                "/orders", json=body, headers={**admin, "Idempotency-Key": f"key-{index}"}
            )
            assert response.status_code == 201, response.text


async def expire_keys(database_url: str, keys: Sequence[str]) -> None:
    async with session_on(database_url) as session, session.begin():
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key.in_(keys))
            .values(expires_at=NOW - timedelta(seconds=1))
        )


async def keys_left(database_url: str) -> set[str]:
    async with session_on(database_url) as session:
        return set((await session.scalars(select(IdempotencyKey.key))).all())


async def test_a_backlog_of_expired_keys_is_deleted_in_batches_and_live_keys_stay(
    orders_settings: OrdersSettings, orders_database_url: str, admin: dict[str, str], store: Store
) -> None:
    await place_keyed_orders(orders_settings, admin, 38)
    await expire_keys(orders_database_url, [f"key-{index}" for index in range(35)])

    deleted = await forget_expired_keys(store, batch_size=10)

    assert deleted.batches == (10, 10, 10, 5)
    assert await keys_left(orders_database_url) == {"key-35", "key-36", "key-37"}


def an_event(kind: EventType, occurred_at: datetime) -> EventRecord:
    return EventRecord(
        id=uuid.uuid4(),
        type=kind,
        occurred_at=occurred_at,
        aggregate_type=AggregateType.PRODUCT,
        aggregate_id=uuid.uuid4(),
        aggregate_version=2,
        user_id=None,
        data={},
    )


def an_endpoint(*kinds: EventType) -> EndpointRecord:
    return EndpointRecord(
        id=uuid.uuid4(),
        url="https://hooks.example.com/orders",
        event_types=list(kinds),
        description="",
        secret="whsec_" + "A" * 32,
        previous_secret=None,
        previous_secret_expires_at=None,
        enabled=True,
        disabled_reason=None,
        failing_since=None,
        created_at=NOW,
        updated_at=NOW,
    )


async def add_events(store: Store, events: list[EventRecord]) -> list[EventRecord]:
    async with store.writing() as connection:
        await insert_events(connection, events)
    return events


async def relay_passes(store: Store, count: int) -> None:
    """Run the relay's fan-out until it has passed `count` events (on Postgres an event is
    passed once every transaction that could precede it has ended)."""
    passed = 0
    async with asyncio.timeout(FEED_DEADLINE_SECONDS):
        while passed < count:
            passed += len(await fan_out(store, batch_size=100, now=NOW))
            await asyncio.sleep(0.05)


async def stored_events(database_url: str) -> list[uuid.UUID]:
    """The events in the table, in the feed's order."""
    async with session_on(database_url) as session:
        ids = await session.scalars(select(Event.id).order_by(Event.xid_horizon, Event.position))
        return list(ids.all())


async def feed_after(store: Store, after: str | None, count: int) -> list[uuid.UUID]:
    """The feed after the cursor `after`, once it shows `count` events (on Postgres an event
    shows once every transaction that could precede it has ended)."""
    async with asyncio.timeout(FEED_DEADLINE_SECONDS):
        while True:
            async with store.reading() as connection:
                page = await read_feed(
                    connection, kinds=None, user_id=None, after=after, limit=1000, scope=FEED_SCOPE
                )
            if len(page.items) >= count:
                return [event.id for event in page.items]
            await asyncio.sleep(0.05)


async def add_25_of_each_kind(
    store: Store, placing: OrdersSettings, database_url: str, admin: dict[str, str]
) -> list[EventRecord]:
    """25 old records of each kind a round deletes: relayed events (returned), delivery
    attempts and expired keys (their orders placed by a service with `placing`)."""
    old_events = await add_events(
        store, [an_event(EventType.PRODUCT_STOCK_CHANGED, OLD) for _ in range(25)]
    )
    await relay_passes(store, len(old_events))
    endpoint = an_endpoint(EventType.ORDER_PAID)
    async with store.writing() as connection:
        await insert_endpoint(connection, endpoint)
    await add_attempts(store, endpoint.id, [OLD] * 25)
    await place_keyed_orders(placing, admin, 25)
    await expire_keys(database_url, [f"key-{index}" for index in range(25)])
    return old_events


async def test_old_events_leave_the_feed_once_relayed_and_never_while_a_delivery_is_pending(
    store: Store, orders_database_url: str
) -> None:
    async with store.writing() as connection:
        await insert_endpoint(connection, an_endpoint(EventType.ORDER_PAID))
    # 35 old events, two of them for the endpoint; then 3 within the retention.
    old = [an_event(EventType.PRODUCT_STOCK_CHANGED, OLD) for _ in range(35)]
    old[5] = an_event(EventType.ORDER_PAID, OLD)
    old[20] = an_event(EventType.ORDER_PAID, OLD)
    await add_events(store, old)
    recent = await add_events(store, [an_event(EventType.ORDER_PAID, NOW) for _ in range(3)])
    await relay_passes(store, 38)
    # The first paid event's delivery is over; the second's still pending.
    async with session_on(orders_database_url) as session, session.begin():
        delivered = select(Event.position).where(Event.id == old[5].id).scalar_subquery()
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.event_position == delivered)
            .values(state=DELIVERED, finished_at=NOW)
        )
    # Old, but the relay has not passed them yet.
    not_relayed = await add_events(
        store, [an_event(EventType.PRODUCT_STOCK_CHANGED, OLD) for _ in range(4)]
    )
    async with store.reading() as connection:
        first_page = await read_feed(
            connection, kinds=None, user_id=None, after=None, limit=3, scope=FEED_SCOPE
        )
    assert [event.id for event in first_page.items] == [event.id for event in old[:3]]

    deleted = await forget_old_events(store, before=NOW - RETENTION, batch_size=10)

    assert deleted.batches == (10, 10, 10, 4)
    kept = [old[20].id, *(event.id for event in recent), *(event.id for event in not_relayed)]
    assert await stored_events(orders_database_url) == kept
    # A feed read from the start starts later; a cursor taken before goes on from there.
    assert await feed_after(store, None, len(kept)) == kept
    assert await feed_after(store, first_page.next_cursor, len(kept)) == kept
    async with session_on(orders_database_url) as session:
        deliveries = (await session.scalars(select(WebhookDelivery.state))).all()
    assert sorted(deliveries) == [PENDING, PENDING, PENDING, PENDING]


async def test_without_a_relay_cursor_no_event_is_deleted(
    store: Store, orders_database_url: str
) -> None:
    await add_events(store, [an_event(EventType.PRODUCT_STOCK_CHANGED, OLD) for _ in range(3)])
    async with session_on(orders_database_url) as session, session.begin():
        await session.execute(delete(RelayCursor))

    deleted = await forget_old_events(store, before=NOW - RETENTION, batch_size=10)

    assert deleted.rows == 0
    assert len(await stored_events(orders_database_url)) == 3


def an_attempt(at: datetime) -> AttemptRecord:
    return AttemptRecord(
        id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        attempt=1,
        status_code=500,
        error=None,
        duration_ms=12,
        at=at,
    )


async def add_attempts(store: Store, endpoint_id: uuid.UUID, ats: Sequence[datetime]) -> None:
    async with store.writing() as connection:
        for at in ats:
            await insert_attempt(connection, endpoint_id, an_attempt(at))


async def test_old_webhook_attempts_are_deleted_in_batches_endpoint_by_endpoint(
    store: Store, orders_database_url: str
) -> None:
    first, second = an_endpoint(EventType.ORDER_PAID), an_endpoint(EventType.ORDER_PAID)
    async with store.writing() as connection:
        await insert_endpoint(connection, first)
        await insert_endpoint(connection, second)
    await add_attempts(store, first.id, [OLD] * 25 + [NOW] * 2)
    await add_attempts(store, second.id, [OLD] * 5)

    deleted = await forget_old_attempts(store, before=NOW - RETENTION, batch_size=10)

    assert sorted(deleted.batches) == [5, 5, 10, 10]
    async with session_on(orders_database_url) as session:
        left = (await session.execute(select(WebhookAttempt.endpoint_id, WebhookAttempt.at))).all()
    assert [(endpoint_id, at) for endpoint_id, at in left] == [(first.id, NOW)] * 2


async def rows_in(database_url: str, model: Any) -> int:
    async with session_on(database_url) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_the_service_cleans_up_on_its_own_and_logs_what_it_deleted(
    orders_settings: OrdersSettings,
    orders_database_url: str,
    admin: dict[str, str],
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shared.housekeeping")
    old_events = await add_25_of_each_kind(store, orders_settings, orders_database_url, admin)
    settings = orders_settings.model_copy(update={"housekeeping_batch_size": 10})

    def deleted() -> dict[str, int]:
        rounds = [record for record in caplog.records if record.msg == "expired_records_deleted"]
        return {
            table: sum(getattr(record, table) for record in rounds)
            for table in ("idempotency_keys", "events", "webhook_attempts")
        }

    async def cleaned_up() -> bool:
        # The round logs what it deleted once it is over.
        return (
            not await rows_in(orders_database_url, WebhookAttempt)
            and not await keys_left(orders_database_url)
            and old_events[-1].id not in await stored_events(orders_database_url)
            and deleted()["idempotency_keys"] > 0
        )

    # The first round runs as the service starts.
    async with app_client(create_app(settings), "http://orders.test") as client:
        async with asyncio.timeout(FEED_DEADLINE_SECONDS):
            # Polled: the service cleans up in a task of its own, in the database.
            while not await cleaned_up():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert (await client.get("/health/ready")).status_code == 200

    assert not {event.id for event in old_events} & set(await stored_events(orders_database_url))
    assert deleted() == {"idempotency_keys": 25, "events": 25, "webhook_attempts": 25}


async def explain(database_url: str, statement: Query, params: dict[str, Any]) -> str:
    """Postgres's plan for the statement as the store runs it, with the alternatives to an
    ordered index scan priced out of reach: a Sort or a Seq Scan left in the plan means that
    no index serves the batch's choice of rows."""
    url = make_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        async with connection.transaction():
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                await connection.execute(f"SET LOCAL {setting} = off")
            rows = await connection.fetch(f"EXPLAIN {statement.sql}", *statement.args(params))
    finally:
        await connection.close()
    return "\n".join(row[0] for row in rows)


async def test_every_deletion_of_a_round_paces_itself_by_the_settings_share(
    orders_settings: OrdersSettings,
    orders_database_url: str,
    admin: dict[str, str],
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The service placing the orders cleans up as it starts: one that keeps all until later.
    keeping = {"event_retention_seconds": 10**9, "webhook_attempt_retention_seconds": 10**9}
    placing = orders_settings.model_copy(update=keeping)
    await add_25_of_each_kind(store, placing, orders_database_url, admin)
    shares: list[float] = []

    def no_pause(batch_seconds: float, database_share: float) -> float:
        shares.append(database_share)
        return 0.0

    monkeypatch.setattr("shared.batched_delete.pause_after", no_pause)
    settings = orders_settings.model_copy(
        update={"housekeeping_batch_size": 10, "housekeeping_database_share": 0.4}
    )

    deleted = await delete_expired_records(store, settings)

    assert deleted == {"idempotency_keys": 25, "events": 25, "webhook_attempts": 25}
    # 25 rows each in batches of 10: two pauses each, all at the settings' share.
    assert shares == [0.4] * 6


@pytest.mark.parametrize(
    ("statement", "params", "indexes"),
    [
        (
            DELETE_EXPIRED["postgresql"],
            {"now": NOW, BATCH_SIZE: 10},
            ["ix_idempotency_keys_expires_at"],
        ),
        (
            DELETE_RELAYED["postgresql"],
            {"relayed_major": 1, "relayed_minor": 1, "cutoff": NOW, BATCH_SIZE: 10},
            # How it checks for pending deliveries depends on how many there are.
            ["ix_events_xid_horizon_position"],
        ),
        (
            DELETE_ATTEMPTS["postgresql"],
            {"attempts_endpoint_id": uuid.uuid4(), "cutoff": NOW, BATCH_SIZE: 10},
            ["ix_webhook_attempts_endpoint_id_at_id"],
        ),
    ],
    ids=["idempotency-keys", "events", "webhook-attempts"],
)
async def test_each_batch_chooses_its_rows_from_an_index_in_order(
    postgres_orders_database_url: str,
    statement: Query,
    params: dict[str, Any],
    indexes: list[str],
) -> None:
    plan = await explain(postgres_orders_database_url, statement, params)

    for index in indexes:
        assert f"Index Scan using {index} " in plan, plan
    assert "Sort" not in plan, plan
    assert "Seq Scan" not in plan, plan
