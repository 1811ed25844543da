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
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Delete,
    Integer,
    Select,
    String,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute

from order_service.models import Event, RelayCursor, WebhookDelivery
from order_service.records import AggregateType, EventRecord, EventType
from order_service.store.deliveries import PENDING
from order_service.store.sql import Connection, Query, Row, RowsInsert, query, sqlite_query
from shared.batched_delete import BATCH_SIZE, batch_delete
from shared.cursors import SequenceCursor
from shared.database import UTCDateTime
from shared.pagination import Page

_EVENT_ROW = (
    "id",
    "type",
    "occurred_at",
    "aggregate_type",
    "aggregate_id",
    "aggregate_version",
    "user_id",
    "data",
)
# All of a change's events in one statement.
INSERT_EVENTS = RowsInsert(Event.__table__, _EVENT_ROW)

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


async def insert_events(connection: Connection, events: Sequence[EventRecord]) -> None:
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
    await connection.insert_rows(INSERT_EVENTS, rows)


def _is_settled(dialect_name: str) -> ColumnElement[bool]:
    """Whether an event's place in the feed is final: nothing can appear before it any more."""
    if dialect_name == "postgresql":
        return Event.xid_horizon < _OLDEST_RUNNING_TRANSACTION
    return true()


def _settled_after(
    dialect_name: str,
    columns: Sequence[InstrumentedAttribute[Any]],
    *,
    kind: str | None = None,
    is_users: bool = False,
    is_after: bool = True,
) -> Select[Any]:
    """Settled events (after the cursor `after_major`, `after_minor`, if `is_after`), in feed
    order, at most `rows_wanted`: of the type in parameter `kind` only, and the user's in
    `user_id` only, if asked. An index serves each combination in order (see
    `models.Event`)."""
    statement = select(*columns, *_ORDER).where(_is_settled(dialect_name))
    if kind is not None:
        statement = statement.where(Event.type == bindparam(kind, type_=String))
    if is_users:
        statement = statement.where(Event.user_id == bindparam("user_id", type_=Uuid))
    if is_after:
        after = tuple_(
            bindparam("after_major", type_=BigInteger), bindparam("after_minor", type_=BigInteger)
        )
        statement = statement.where(tuple_(*_ORDER) > after)
    return statement.order_by(*_ORDER).limit(bindparam("rows_wanted", type_=Integer))


def feed_query(
    dialect_name: str, *, kinds: int | None, is_users: bool, is_after: bool
) -> Select[Any]:
    """A page of the feed: all events, or those of `kinds` types (parameters `kind_0`, …;
    the user's in `user_id` only, if `is_users`). `feed_parameters` gives the values.

    Several kinds are one ordered index range each, merged: `type IN (…)` would read every
    event of those kinds after the cursor to sort them, however many there are.
    """
    assert kinds is None or kinds > 0, "no kind of event asked for: there is nothing to read"
    if kinds is None or kinds == 1:
        return _settled_after(
            dialect_name,
            _EVENT_COLUMNS,
            kind="kind_0" if kinds else None,
            is_users=is_users,
            is_after=is_after,
        )
    parts = [
        _settled_after(
            dialect_name, _EVENT_COLUMNS, kind=f"kind_{index}", is_users=is_users, is_after=is_after
        ).subquery()
        for index in range(kinds)
    ]
    merged = union_all(*(select(part) for part in parts)).subquery("feed")
    return (
        select(merged)
        .order_by(merged.c.xid_horizon, merged.c.position)
        .limit(bindparam("rows_wanted", type_=Integer))
    )


def feed_parameters(
    *,
    kinds: Collection[EventType] | None,
    user_id: uuid.UUID | None,
    after: SequenceCursor | None,
    limit: int,
) -> dict[str, Any]:
    """The values of a `feed_query`."""
    parameters: dict[str, Any] = {"rows_wanted": limit, "user_id": user_id}
    for index, kind in enumerate(sorted(kinds or ())):
        parameters[f"kind_{index}"] = kind
    if after is not None:
        parameters["after_major"], parameters["after_minor"] = after.major, after.minor
    return parameters


@cache
def feed_statement(dialect_name: str, kinds: int | None, is_users: bool, is_after: bool) -> Query:
    statement = feed_query(dialect_name, kinds=kinds, is_users=is_users, is_after=is_after)
    return query(statement) if dialect_name == "postgresql" else sqlite_query(statement)


def _event_of(row: Row) -> EventRecord:
    return EventRecord(
        id=row["id"],
        type=EventType(row["type"]),
        occurred_at=row["occurred_at"],
        aggregate_type=AggregateType(row["aggregate_type"]),
        aggregate_id=row["aggregate_id"],
        aggregate_version=row["aggregate_version"],
        user_id=row["user_id"],
        data=row["data"],
    )


async def read_feed(
    connection: Connection,
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
    statement = feed_statement(
        connection.dialect_name,
        len(kinds) if kinds else None,
        user_id is not None,
        cursor is not None,
    )
    parameters = feed_parameters(kinds=kinds, user_id=user_id, after=cursor, limit=limit)
    rows = await connection.fetch(statement, parameters)
    if rows:
        after = SequenceCursor(rows[-1]["xid_horizon"], rows[-1]["position"]).encode(scope)
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
_SETTLED_AFTER = {
    "postgresql": query(_settled_after("postgresql", _FAN_OUT_COLUMNS)),
    "sqlite": sqlite_query(_settled_after("sqlite", _FAN_OUT_COLUMNS)),
}
# The positions as an array parameter on Postgres, spelled out on SQLite.
_EVENTS_AT = {
    "postgresql": query(
        select(Event.position, *_EVENT_COLUMNS).where(
            Event.position == any_(bindparam("positions", type_=ARRAY(BigInteger)))
        )
    ),
    "sqlite": sqlite_query(
        select(Event.position, *_EVENT_COLUMNS).where(
            Event.position.in_(bindparam("positions", expanding=True))
        )
    ),
}


async def read_settled_after(
    connection: Connection, after: SequenceCursor, limit: int
) -> list[SettledEvent]:
    """The next `limit` settled events after `after`, in feed order."""
    rows = await connection.fetch(
        _SETTLED_AFTER[connection.dialect_name],
        {"after_major": after.major, "after_minor": after.minor, "rows_wanted": limit},
    )
    return [
        SettledEvent(
            cursor=SequenceCursor(row["xid_horizon"], row["position"]),
            position=row["position"],
            type=EventType(row["type"]),
            aggregate_id=row["aggregate_id"],
            occurred_at=row["occurred_at"],
        )
        for row in rows
    ]


async def read_events_at(
    connection: Connection, positions: Collection[int]
) -> dict[int, EventRecord]:
    """The events at these positions, by position."""
    rows = await connection.fetch(
        _EVENTS_AT[connection.dialect_name], {"positions": list(positions)}
    )
    return {row["position"]: _event_of(row) for row in rows}


_RELAYED_UP_TO = query(
    select(RelayCursor.xid_horizon, RelayCursor.position)
    .order_by(RelayCursor.xid_horizon, RelayCursor.position)
    .limit(1)
)


async def read_relayed_up_to(connection: Connection) -> SequenceCursor | None:
    """How far in the feed every relay has made its deliveries (the one furthest behind);
    None when there is no relay's cursor to go by."""
    row = await connection.fetchrow(_RELAYED_UP_TO)
    return SequenceCursor(row["xid_horizon"], row["position"]) if row is not None else None


def _delete_relayed(dialect_name: str) -> Delete:
    """The oldest events in feed order that the relay has passed and has no delivery still
    pending for, up to the batch's size; of those, the ones that occurred before `cutoff`."""
    relayed = tuple_(*_ORDER) <= tuple_(
        bindparam("relayed_major", type_=BigInteger), bindparam("relayed_minor", type_=BigInteger)
    )
    pending = exists().where(
        WebhookDelivery.event_position == Event.position, WebhookDelivery.state == PENDING
    )
    return batch_delete(
        Event.__table__,
        and_(relayed, ~pending),
        order_by=_ORDER,
        dialect_name=dialect_name,
        only=Event.occurred_at < bindparam("cutoff", type_=UTCDateTime),
    )


DELETE_RELAYED = {
    "postgresql": query(_delete_relayed("postgresql")),
    "sqlite": sqlite_query(_delete_relayed("sqlite")),
}


async def delete_relayed_events(
    connection: Connection, relayed: SequenceCursor, *, before: datetime, limit: int
) -> int:
    """Delete the oldest events, in feed order, that occurred before `before`: at most
    `limit`, of those the relay had passed at `relayed` and has no delivery pending for (their
    finished deliveries go with them); how many.

    Fewer than `limit` means the oldest events left are not due yet. The feed only ever
    loses its oldest events: a reader's cursor still holds, and a feed read from the start
    starts later.
    """
    return await connection.execute(
        DELETE_RELAYED[connection.dialect_name],
        {
            "relayed_major": relayed.major,
            "relayed_minor": relayed.minor,
            "cutoff": before,
            BATCH_SIZE: limit,
        },
    )
