"""The relay's statements: its cursor in the feed, the deliveries it makes from the feed's
events, the leases it takes on them, and what each attempt came to."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Delete,
    Integer,
    String,
    Uuid,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import aliased

from order_service.models import (
    RelayCursor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from order_service.records import AttemptRecord, EventType
from order_service.store.sql import Connection, RowsInsert, one_off, query, sqlite_query
from shared.batched_delete import BATCH_SIZE, batch_delete
from shared.cursors import SequenceCursor
from shared.database import UTCDateTime

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


_THE_CURSOR = RelayCursor.name == bindparam("cursor_name", type_=String)
_LOCK_CURSOR = query(
    select(RelayCursor.xid_horizon, RelayCursor.position)
    .where(_THE_CURSOR)
    .with_for_update(skip_locked=True)
)
_MOVE_CURSOR = query(
    update(RelayCursor)
    .where(_THE_CURSOR)
    .values(
        xid_horizon=bindparam("major", type_=BigInteger),
        position=bindparam("minor", type_=BigInteger),
    )
)


async def lock_relay_cursor(connection: Connection, name: str) -> SequenceCursor | None:
    """Where the relay `name` is in the feed, locked until the transaction ends; None while
    another relay holds it (that one is making the deliveries: this one skips its turn)."""
    row = await connection.fetchrow(_LOCK_CURSOR, {"cursor_name": name})
    return SequenceCursor(row["xid_horizon"], row["position"]) if row is not None else None


async def move_relay_cursor(connection: Connection, name: str, cursor: SequenceCursor) -> None:
    await connection.execute(
        _MOVE_CURSOR, {"cursor_name": name, "major": cursor.major, "minor": cursor.minor}
    )


@dataclass(frozen=True, slots=True)
class Subscription:
    endpoint_id: uuid.UUID
    event_types: frozenset[EventType]


_SUBSCRIPTIONS = query(
    select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(WebhookEndpoint.enabled)
)


async def read_subscriptions(connection: Connection) -> list[Subscription]:
    """What each enabled endpoint receives."""
    return [
        Subscription(row["id"], frozenset(EventType(kind) for kind in row["event_types"]))
        for row in await connection.fetch(_SUBSCRIPTIONS)
    ]


_DELIVERY_ROW = (
    "endpoint_id",
    "event_position",
    "aggregate_id",
    "state",
    "attempts",
    "next_attempt_at",
    "created_at",
)
_INSERT_DELIVERIES = RowsInsert(WebhookDelivery.__table__, _DELIVERY_ROW)


@dataclass(frozen=True, slots=True)
class NewDelivery:
    endpoint_id: uuid.UUID
    event_position: int
    aggregate_id: uuid.UUID


async def read_queue_times(
    connection: Connection, queues: Collection[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], datetime]:
    """For each (endpoint, aggregate) with a delivery still pending, the latest time one is
    due: a delivery queued behind them cannot be sent before."""
    if not queues:
        return {}
    statement = (
        select(
            WebhookDelivery.endpoint_id,
            WebhookDelivery.aggregate_id,
            func.max(WebhookDelivery.next_attempt_at).label("due"),
        )
        .where(
            WebhookDelivery.state == PENDING,
            tuple_(WebhookDelivery.endpoint_id, WebhookDelivery.aggregate_id).in_(list(queues)),
        )
        .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.aggregate_id)
    )
    rows = await connection.fetch(one_off(statement))
    return {(row["endpoint_id"], row["aggregate_id"]): row["due"] for row in rows}


async def insert_deliveries(
    connection: Connection,
    deliveries: Sequence[NewDelivery],
    *,
    now: datetime,
    due: dict[tuple[uuid.UUID, uuid.UUID], datetime],
) -> None:
    """Queue `deliveries`, in this order (their ids order each endpoint's queue per
    aggregate), each due now or when the ones queued before it for its aggregate are."""
    if not deliveries:
        return
    rows = [
        {
            "endpoint_id": delivery.endpoint_id,
            "event_position": delivery.event_position,
            "aggregate_id": delivery.aggregate_id,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": max(
                now, due.get((delivery.endpoint_id, delivery.aggregate_id), now)
            ),
            "created_at": now,
        }
        for delivery in deliveries
    ]
    await connection.insert_rows(_INSERT_DELIVERIES, rows)


_earlier = aliased(WebhookDelivery)


_NOW = bindparam("now", type_=UTCDateTime)
_DUE = query(
    select(WebhookDelivery.id)
    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
    .where(
        WebhookDelivery.state == PENDING,
        WebhookDelivery.next_attempt_at <= _NOW,
        or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until <= _NOW),
        WebhookEndpoint.enabled,
        ~exists().where(
            _earlier.endpoint_id == WebhookDelivery.endpoint_id,
            _earlier.aggregate_id == WebhookDelivery.aggregate_id,
            _earlier.state == PENDING,
            _earlier.id < WebhookDelivery.id,
        ),
    )
    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
    .limit(bindparam("rows_wanted", type_=Integer))
    .with_for_update(of=WebhookDelivery, skip_locked=True)
)


async def lease_due_deliveries(
    connection: Connection, *, now: datetime, until: datetime, limit: int
) -> list[int]:
    """Claim up to `limit` deliveries that are due, to enabled endpoints, and first in their
    endpoint's queue for their order or product, until `until`; their ids.

    Rows another relay is claiming are skipped, not waited for. The caller commits at once:
    the lease, not a lock, keeps others away while it delivers.
    """
    rows = await connection.fetch(_DUE, {"now": now, "rows_wanted": limit})
    ids: list[int] = [row["id"] for row in rows]
    if ids:
        await connection.execute(
            one_off(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids))
                .values(leased_until=until)
            )
        )
    return ids


@dataclass(frozen=True, slots=True)
class LeasedDelivery:
    id: int
    endpoint_id: uuid.UUID
    event_position: int
    aggregate_id: uuid.UUID
    # Attempts made before this one.
    attempts: int


async def read_deliveries(connection: Connection, ids: Sequence[int]) -> list[LeasedDelivery]:
    statement = (
        select(
            WebhookDelivery.id,
            WebhookDelivery.endpoint_id,
            WebhookDelivery.event_position,
            WebhookDelivery.aggregate_id,
            WebhookDelivery.attempts,
        )
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.id)
    )
    return [
        LeasedDelivery(**{field: row[field] for field in LeasedDelivery.__dataclass_fields__})
        for row in await connection.fetch(one_off(statement))
    ]


_INSERT_ATTEMPT = query(
    insert(WebhookAttempt),
    params=(
        "id",
        "endpoint_id",
        "event_id",
        "attempt",
        "status_code",
        "error",
        "duration_ms",
        "at",
    ),
)


async def insert_attempt(
    connection: Connection, endpoint_id: uuid.UUID, attempt: AttemptRecord
) -> None:
    await connection.execute(
        _INSERT_ATTEMPT,
        {
            "id": attempt.id,
            "endpoint_id": endpoint_id,
            "event_id": attempt.event_id,
            "attempt": attempt.attempt,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "duration_ms": attempt.duration_ms,
            "at": attempt.at,
        },
    )


# The delivery as its lease found it: an attempt another relay recorded since (once the
# lease had run out) is not recorded twice.
_MINE: tuple[ColumnElement[bool], ...] = (
    WebhookDelivery.id == bindparam("delivery_id", type_=BigInteger),
    WebhookDelivery.state == PENDING,
    WebhookDelivery.attempts == bindparam("attempts_before", type_=Integer),
)


_AT = bindparam("at", type_=UTCDateTime)
_FINISH = query(
    update(WebhookDelivery)
    .where(*_MINE)
    .values(
        state=bindparam("state", type_=String),
        attempts=bindparam("attempts_now", type_=Integer),
        leased_until=None,
        finished_at=_AT,
    )
)
_RETRY = query(
    update(WebhookDelivery)
    .where(*_MINE)
    .values(
        attempts=bindparam("attempts_now", type_=Integer), leased_until=None, next_attempt_at=_AT
    )
)
_HOLD_BACK_THE_QUEUE = query(
    update(WebhookDelivery)
    .where(
        WebhookDelivery.endpoint_id == bindparam("queue_endpoint_id", type_=Uuid),
        WebhookDelivery.aggregate_id == bindparam("queue_aggregate_id", type_=Uuid),
        WebhookDelivery.state == PENDING,
        WebhookDelivery.id > bindparam("delivery_id", type_=BigInteger),
        WebhookDelivery.next_attempt_at < _AT,
    )
    .values(next_attempt_at=_AT)
)
_GIVE_UP_PENDING = query(
    update(WebhookDelivery)
    .where(
        WebhookDelivery.endpoint_id == bindparam("disabled_endpoint_id", type_=Uuid),
        WebhookDelivery.state == PENDING,
    )
    .values(state=FAILED, leased_until=None, finished_at=_AT)
)


def _mine(delivery: LeasedDelivery) -> dict[str, object]:
    """The delivery as its lease found it (see `_MINE`), and its attempts with this one."""
    return {
        "delivery_id": delivery.id,
        "attempts_before": delivery.attempts,
        "attempts_now": delivery.attempts + 1,
    }


async def finish_delivery(
    connection: Connection, delivery: LeasedDelivery, state: str, *, now: datetime
) -> bool:
    """Delivered, or given up; False when the delivery had moved on without this relay."""
    return await connection.execute(_FINISH, {**_mine(delivery), "state": state, "at": now}) == 1


async def retry_delivery_at(connection: Connection, delivery: LeasedDelivery, at: datetime) -> bool:
    """Try again at `at`, and the deliveries queued behind it no earlier; False when the
    delivery had moved on without this relay."""
    if await connection.execute(_RETRY, {**_mine(delivery), "at": at}) != 1:
        return False
    await connection.execute(
        _HOLD_BACK_THE_QUEUE,
        {
            "queue_endpoint_id": delivery.endpoint_id,
            "queue_aggregate_id": delivery.aggregate_id,
            "delivery_id": delivery.id,
            "at": at,
        },
    )
    return True


async def give_up_pending(connection: Connection, endpoint_id: uuid.UUID, *, now: datetime) -> None:
    """Give up every delivery still pending for the endpoint (it was disabled)."""
    await connection.execute(_GIVE_UP_PENDING, {"disabled_endpoint_id": endpoint_id, "at": now})


def _delete_attempts(dialect_name: str) -> Delete:
    """An endpoint's attempts made before `cutoff`, oldest first (its index's order)."""
    return batch_delete(
        WebhookAttempt.__table__,
        and_(
            WebhookAttempt.endpoint_id == bindparam("attempts_endpoint_id", type_=Uuid),
            WebhookAttempt.at < bindparam("cutoff", type_=UTCDateTime),
        ),
        order_by=[WebhookAttempt.at],
        dialect_name=dialect_name,
    )


DELETE_ATTEMPTS = {
    "postgresql": query(_delete_attempts("postgresql")),
    "sqlite": sqlite_query(_delete_attempts("sqlite")),
}


async def delete_attempts_before(
    connection: Connection, endpoint_id: uuid.UUID, *, before: datetime, limit: int
) -> int:
    """Delete up to `limit` of the endpoint's attempts made before `before`, oldest first;
    how many."""
    return await connection.execute(
        DELETE_ATTEMPTS[connection.dialect_name],
        {"attempts_endpoint_id": endpoint_id, "cutoff": before, BATCH_SIZE: limit},
    )
