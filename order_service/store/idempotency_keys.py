"""Clients' `Idempotency-Key`s: claimed in the transaction that does the work, each with the
order it placed, until they expire.

A key holds no response: a replay renders the order as it was placed, from the outbox's
`order.placed` event (which carries the order as the API showed it at version 1). Keys
stored before that (revision 0006) kept their whole response; they replay it until they
expire, when their claim is taken over and those columns are emptied.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Delete, String, Uuid, and_, bindparam, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite

from order_service.models import Event, IdempotencyKey
from order_service.records import EventType
from order_service.store.sql import Connection, Query, query, sqlite_query
from shared.batched_delete import BATCH_SIZE, batch_delete
from shared.database import UTCDateTime


@dataclass(frozen=True)
class StoredResponse:
    """A response a key kept whole (keys stored before revision 0006 only)."""

    status_code: int
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class StoredKey:
    request_fingerprint: str
    # The order the key placed (None for a key stored with its response instead).
    order_id: uuid.UUID | None
    # That order as it was placed: its `order.placed` event's data (None once the event
    # was deleted, or for an older key).
    placed: dict[str, Any] | None
    # The response an older key kept.
    response: StoredResponse | None


_NOW = bindparam("now", type_=UTCDateTime)


def _claim(insert: Any) -> Any:
    """A new key, or one that had expired taken over; a key still in force left alone (and
    a concurrent claim of it, not committed yet, waited for). In each database's spelling."""
    claimed = insert.values(
        user_id=bindparam("user_id", type_=Uuid),
        key=bindparam("key", type_=String),
        request_fingerprint=bindparam("fingerprint", type_=String),
        order_id=bindparam("order_id", type_=Uuid),
        created_at=_NOW,
        expires_at=bindparam("expires_at", type_=UTCDateTime),
    )
    return claimed.on_conflict_do_update(
        index_elements=[IdempotencyKey.user_id, IdempotencyKey.key],
        set_={
            "request_fingerprint": claimed.excluded.request_fingerprint,
            "order_id": claimed.excluded.order_id,
            "created_at": claimed.excluded.created_at,
            "expires_at": claimed.excluded.expires_at,
            "status_code": None,
            "response_headers": None,
            "response_body": None,
        },
        where=IdempotencyKey.expires_at <= _NOW,
    ).returning(IdempotencyKey.key)


CLAIM_KEY: dict[str, Query] = {
    "postgresql": query(_claim(postgresql.insert(IdempotencyKey))),
    "sqlite": sqlite_query(_claim(sqlite.insert(IdempotencyKey))),
}
# The key with the event of the order it placed, in one statement. The type is spelled in
# the text, not a parameter, so that every plan may use the partial index on placed orders.
_PLACED: ColumnElement[str] = literal_column(f"'{EventType.ORDER_PLACED.value}'")
READ_KEY = query(
    select(
        IdempotencyKey.request_fingerprint,
        IdempotencyKey.order_id,
        IdempotencyKey.status_code,
        IdempotencyKey.response_headers,
        IdempotencyKey.response_body,
        Event.data,
    )
    .outerjoin(
        Event,
        and_(
            Event.aggregate_id == IdempotencyKey.order_id,
            Event.type == _PLACED,
        ),
    )
    .where(
        IdempotencyKey.user_id == bindparam("user_id", type_=Uuid),
        IdempotencyKey.key == bindparam("key", type_=String),
    )
)


def _delete_expired(dialect_name: str) -> Delete:
    return batch_delete(
        IdempotencyKey.__table__,
        IdempotencyKey.expires_at <= _NOW,
        order_by=[IdempotencyKey.expires_at],
        dialect_name=dialect_name,
    )


DELETE_EXPIRED: dict[str, Query] = {
    "postgresql": query(_delete_expired("postgresql")),
    "sqlite": sqlite_query(_delete_expired("sqlite")),
}


async def claim_key(
    connection: Connection,
    user_id: uuid.UUID,
    key: str,
    request_fingerprint: str,
    order_id: uuid.UUID,
    *,
    ttl: timedelta,
    now: datetime,
) -> bool:
    """Whether this transaction now owns the key, for the order `order_id` it is about to
    place: a new key, or one that had expired. One atomic statement."""
    claimed = await connection.fetchval(
        CLAIM_KEY[connection.dialect_name],
        {
            "user_id": user_id,
            "key": key,
            "fingerprint": request_fingerprint,
            "order_id": order_id,
            "now": now,
            "expires_at": now + ttl,
        },
    )
    return claimed is not None


async def read_key(connection: Connection, user_id: uuid.UUID, key: str) -> StoredKey | None:
    row = await connection.fetchrow(READ_KEY, {"user_id": user_id, "key": key})
    if row is None:
        return None
    response = None
    if row["status_code"] is not None and row["response_body"] is not None:
        response = StoredResponse(
            row["status_code"], dict(row["response_headers"] or {}), row["response_body"]
        )
    return StoredKey(row["request_fingerprint"], row["order_id"], row["data"], response)


async def delete_expired_keys(connection: Connection, *, now: datetime, limit: int) -> int:
    """Delete up to `limit` keys expired by `now`, the earliest first; how many."""
    return await connection.execute(
        DELETE_EXPIRED[connection.dialect_name], {"now": now, BATCH_SIZE: limit}
    )
