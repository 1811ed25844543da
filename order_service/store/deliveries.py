"""The relay's statements: its cursor in the feed, the deliveries it makes from the feed's
events, the leases it takes on them, and what each attempt came to."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from order_service.models import (
    RelayCursor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from order_service.records import AttemptRecord, EventType
from shared.cursors import SequenceCursor

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


async def lock_relay_cursor(connection: AsyncConnection, name: str) -> SequenceCursor | None:
    """Where the relay `name` is in the feed, locked until the transaction ends; None while
    another relay holds it (that one is making the deliveries: this one skips its turn)."""
    statement = (
        select(RelayCursor.xid_horizon, RelayCursor.position)
        .where(RelayCursor.name == name)
        .with_for_update(skip_locked=True)
    )
    row = (await connection.execute(statement)).one_or_none()
    return SequenceCursor(row.xid_horizon, row.position) if row is not None else None


async def move_relay_cursor(connection: AsyncConnection, name: str, cursor: SequenceCursor) -> None:
    await connection.execute(
        update(RelayCursor)
        .where(RelayCursor.name == name)
        .values(xid_horizon=cursor.major, position=cursor.minor)
    )


@dataclass(frozen=True, slots=True)
class Subscription:
    endpoint_id: uuid.UUID
    event_types: frozenset[EventType]


async def read_subscriptions(connection: AsyncConnection) -> list[Subscription]:
    """What each enabled endpoint receives."""
    statement = select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
        WebhookEndpoint.enabled
    )
    return [
        Subscription(row.id, frozenset(EventType(kind) for kind in row.event_types))
        for row in (await connection.execute(statement)).all()
    ]


# RETURNING: one multi-row INSERT (see store/events.py).
_INSERT_DELIVERIES = insert(WebhookDelivery).returning(WebhookDelivery.id)


@dataclass(frozen=True, slots=True)
class NewDelivery:
    endpoint_id: uuid.UUID
    event_position: int
    aggregate_id: uuid.UUID


async def read_queue_times(
    connection: AsyncConnection, queues: Collection[tuple[uuid.UUID, uuid.UUID]]
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
    rows = (await connection.execute(statement)).all()
    return {(row.endpoint_id, row.aggregate_id): row.due for row in rows}


async def insert_deliveries(
    connection: AsyncConnection,
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
    await connection.execute(_INSERT_DELIVERIES, rows)


_earlier = aliased(WebhookDelivery)


async def lease_due_deliveries(
    connection: AsyncConnection, *, now: datetime, until: datetime, limit: int
) -> list[int]:
    """Claim up to `limit` deliveries that are due, to enabled endpoints, and first in their
    endpoint's queue for their order or product, until `until`; their ids.

    Rows another relay is claiming are skipped, not waited for. The caller commits at once:
    the lease, not a lock, keeps others away while it delivers.
    """
    statement = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.state == PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until <= now),
            WebhookEndpoint.enabled,
            ~exists().where(
                _earlier.endpoint_id == WebhookDelivery.endpoint_id,
                _earlier.aggregate_id == WebhookDelivery.aggregate_id,
                _earlier.state == PENDING,
                _earlier.id < WebhookDelivery.id,
            ),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    ids = list(await connection.scalars(statement))
    if ids:
        await connection.execute(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(leased_until=until)
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


async def read_deliveries(connection: AsyncConnection, ids: Sequence[int]) -> list[LeasedDelivery]:
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
    return [LeasedDelivery(**row._mapping) for row in (await connection.execute(statement)).all()]


async def insert_attempt(
    connection: AsyncConnection, endpoint_id: uuid.UUID, attempt: AttemptRecord
) -> None:
    await connection.execute(
        insert(WebhookAttempt),
        [
            {
                "id": attempt.id,
                "endpoint_id": endpoint_id,
                "event_id": attempt.event_id,
                "attempt": attempt.attempt,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "duration_ms": attempt.duration_ms,
                "at": attempt.at,
            }
        ],
    )


def _mine(delivery: LeasedDelivery) -> list[ColumnElement[bool]]:
    """The delivery as its lease found it: an attempt another relay recorded since (once the
    lease had run out) is not recorded twice."""
    return [
        WebhookDelivery.id == delivery.id,
        WebhookDelivery.state == PENDING,
        WebhookDelivery.attempts == delivery.attempts,
    ]


async def finish_delivery(
    connection: AsyncConnection, delivery: LeasedDelivery, state: str, *, now: datetime
) -> bool:
    """Delivered, or given up; False when the delivery had moved on without this relay."""
    result = await connection.execute(
        update(WebhookDelivery)
        .where(*_mine(delivery))
        .values(state=state, attempts=delivery.attempts + 1, leased_until=None, finished_at=now)
    )
    return result.rowcount == 1


async def retry_delivery_at(
    connection: AsyncConnection, delivery: LeasedDelivery, at: datetime
) -> bool:
    """Try again at `at`, and the deliveries queued behind it no earlier; False when the
    delivery had moved on without this relay."""
    result = await connection.execute(
        update(WebhookDelivery)
        .where(*_mine(delivery))
        .values(attempts=delivery.attempts + 1, leased_until=None, next_attempt_at=at)
    )
    if result.rowcount != 1:
        return False
    await connection.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == delivery.endpoint_id,
            WebhookDelivery.aggregate_id == delivery.aggregate_id,
            WebhookDelivery.state == PENDING,
            WebhookDelivery.id > delivery.id,
            WebhookDelivery.next_attempt_at < at,
        )
        .values(next_attempt_at=at)
    )
    return True


async def give_up_pending(
    connection: AsyncConnection, endpoint_id: uuid.UUID, *, now: datetime
) -> None:
    """Give up every delivery still pending for the endpoint (it was disabled)."""
    await connection.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.state == PENDING)
        .values(state=FAILED, leased_until=None, finished_at=now)
    )
