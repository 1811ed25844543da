"""The outbox's events: written in the transaction of the change they describe, and read back
in the feed's order.

Postgres takes an event's `position` from a sequence when the row is written, but the row
becomes visible when its transaction commits, and transactions commit in another order: a
reader paging by position alone would pass over an event whose transaction commits after a
higher-numbered one was read. So every event also gets an `xid_horizon` as it is written: the
greater of its own transaction's id and the latest id of a transaction that had ended by then.
The feed is ordered by (`xid_horizon`, `position`) and shows an event only once its horizon
lies below the oldest transaction still running (`pg_snapshot_xmin`). Every transaction with
an id up to the horizon has ended then, and any event still to come has a horizon at least as
high as its own transaction's id, which is that oldest one or later: none can ever appear
before what a reader has seen.

The horizon also keeps each order's and product's events in the order of its versions: the
next version is written by a transaction that waited for the row lock until the previous one
ended, so its horizon is at least as high and its position higher, even when that
transaction's own id is the lower one (it began first, on another row).

The price: a transaction that runs long anywhere on the server holds the feed back until it
ends. Ours are bounded by the statement timeout and never wait on anything but the database.
SQLite runs one transaction at a time (`shared.database`): the position alone is the commit
order there, and every committed event is settled.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Text,
    cast,
    func,
    insert,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from order_service.models import Event
from order_service.records import AggregateType, EventRecord, EventType
from shared.cursors import SequenceCursor
from shared.pagination import Page

# RETURNING makes SQLAlchemy send a list of rows as one multi-row INSERT (its
# "insertmanyvalues"): one statement and one round trip, not one execution per row.
_INSERT = insert(Event).returning(Event.position)

_EVENT_COLUMNS = (
    Event.id,
    Event.type,
    Event.occurred_at,
    Event.aggregate_type,
    Event.aggregate_id,
    Event.aggregate_version,
    Event.user_id,
    Event.data,
)
_ORDER = (Event.xid_horizon, Event.position)
# As a bigint, like the horizon (xid8 has no arithmetic). Stable: computed once per statement,
# so the index serves the comparison.
_OLDEST_RUNNING_TRANSACTION = cast(
    cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger
)


async def insert_events(connection: AsyncConnection, events: Sequence[EventRecord]) -> None:
    """Append `events` to the outbox, in this order, in the caller's transaction."""
    if not events:
        return
    rows = [
        {
            "id": event.id,
            "type": event.type,
            "occurred_at": event.occurred_at,
            "aggregate_type": event.aggregate_type,
            "aggregate_id": event.aggregate_id,
            "aggregate_version": event.aggregate_version,
            "user_id": event.user_id,
            "data": event.data,
        }
        for event in events
    ]
    await connection.execute(_INSERT, rows)


def _is_settled(dialect_name: str) -> ColumnElement[bool]:
    """Whether an event's place in the feed is final: nothing can appear before it any more."""
    if dialect_name == "postgresql":
        return Event.xid_horizon < _OLDEST_RUNNING_TRANSACTION
    return true()


def _settled_after(
    dialect_name: str,
    columns: Sequence[InstrumentedAttribute[Any]],
    *,
    after: SequenceCursor | None,
    limit: int,
    kind: EventType | None = None,
    user_id: uuid.UUID | None = None,
) -> Select[Any]:
    """Settled events after `after`, in feed order: `kind` only and `user_id`'s only, if
    given. An index serves each combination in order (see `models.Event`)."""
    statement = select(*columns, *_ORDER).where(_is_settled(dialect_name))
    if kind is not None:
        statement = statement.where(Event.type == kind)
    if user_id is not None:
        statement = statement.where(Event.user_id == user_id)
    if after is not None:
        statement = statement.where(tuple_(*_ORDER) > (after.major, after.minor))
    return statement.order_by(*_ORDER).limit(limit)


def feed_query(
    dialect_name: str,
    *,
    kinds: Collection[EventType] | None,
    user_id: uuid.UUID | None,
    after: SequenceCursor | None,
    limit: int,
) -> Select[Any]:
    """A page of the feed: all events, or those of `kinds` (and `user_id`'s, if given).

    Several kinds are one ordered index range each, merged: `type IN (…)` would read every
    event of those kinds after the cursor to sort them, however many there are.
    """
    assert kinds is None or kinds, "no kind of event asked for: there is nothing to read"
    if kinds is None or len(kinds) == 1:
        kind = next(iter(kinds)) if kinds else None
        return _settled_after(
            dialect_name, _EVENT_COLUMNS, after=after, limit=limit, kind=kind, user_id=user_id
        )
    parts = [
        _settled_after(
            dialect_name, _EVENT_COLUMNS, after=after, limit=limit, kind=kind, user_id=user_id
        ).subquery()
        for kind in sorted(kinds)
    ]
    merged = union_all(*(select(part) for part in parts)).subquery("feed")
    return select(merged).order_by(merged.c.xid_horizon, merged.c.position).limit(limit)


def _event_of(row: Row[Any]) -> EventRecord:
    return EventRecord(
        id=row.id,
        type=EventType(row.type),
        occurred_at=row.occurred_at,
        aggregate_type=AggregateType(row.aggregate_type),
        aggregate_id=row.aggregate_id,
        aggregate_version=row.aggregate_version,
        user_id=row.user_id,
        data=row.data,
    )


async def read_feed(
    connection: AsyncConnection,
    *,
    kinds: Collection[EventType] | None,
    user_id: uuid.UUID | None,
    after: str | None,
    limit: int,
    scope: str,
) -> Page[EventRecord]:
    """A page of settled events, oldest first. Its `next_cursor` is where to go on from,
    now or later: after its last event, or where it began when there is nothing new yet."""
    cursor = SequenceCursor.decode(after, scope) if after is not None else None
    statement = feed_query(
        connection.dialect.name, kinds=kinds, user_id=user_id, after=cursor, limit=limit
    )
    rows = (await connection.execute(statement)).all()
    if rows:
        after = SequenceCursor(rows[-1].xid_horizon, rows[-1].position).encode(scope)
    return Page(items=[_event_of(row) for row in rows], next_cursor=after)


@dataclass(frozen=True, slots=True)
class SettledEvent:
    """What the relay needs of an event to fan it out: where it is, and what it is about."""

    cursor: SequenceCursor
    position: int
    type: EventType
    aggregate_id: uuid.UUID
    occurred_at: datetime


_FAN_OUT_COLUMNS = (Event.type, Event.aggregate_id, Event.occurred_at)


async def read_settled_after(
    connection: AsyncConnection, after: SequenceCursor, limit: int
) -> list[SettledEvent]:
    """The next `limit` settled events after `after`, in feed order."""
    statement = _settled_after(connection.dialect.name, _FAN_OUT_COLUMNS, after=after, limit=limit)
    return [
        SettledEvent(
            cursor=SequenceCursor(row.xid_horizon, row.position),
            position=row.position,
            type=EventType(row.type),
            aggregate_id=row.aggregate_id,
            occurred_at=row.occurred_at,
        )
        for row in (await connection.execute(statement)).all()
    ]


async def read_events_at(
    connection: AsyncConnection, positions: Collection[int]
) -> dict[int, EventRecord]:
    """The events at these positions, by position."""
    statement = select(Event.position, *_EVENT_COLUMNS).where(Event.position.in_(positions))
    return {row.position: _event_of(row) for row in (await connection.execute(statement)).all()}
