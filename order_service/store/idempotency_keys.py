"""Clients' `Idempotency-Key`s: claimed in the transaction that does the work, each with the
response it got, until they expire."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Delete, Integer, String, Text, Uuid, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from order_service.models import IdempotencyKey
from order_service.store.sql import Connection, Query, query, sqlite_query
from shared.batched_delete import BATCH_SIZE, batch_delete
from shared.database import UTCDateTime


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class StoredKey:
    request_fingerprint: str
    # None only inside the transaction that claimed the key: it commits the two together.
    response: StoredResponse | None


_NOW = bindparam("now", type_=UTCDateTime)


def _claim(insert: Any) -> Any:
    """A new key, or one that had expired taken over; a key still in force left alone (and
    a concurrent claim of it, not committed yet, waited for). In each database's spelling."""
    claimed = insert.values(
        user_id=bindparam("user_id", type_=Uuid),
        key=bindparam("key", type_=String),
        request_fingerprint=bindparam("fingerprint", type_=String),
        created_at=_NOW,
        expires_at=bindparam("expires_at", type_=UTCDateTime),
    )
    return claimed.on_conflict_do_update(
        index_elements=[IdempotencyKey.user_id, IdempotencyKey.key],
        set_={
            "request_fingerprint": claimed.excluded.request_fingerprint,
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
# Named apart from the columns: SQLAlchemy keeps a column's own name for its new value.
_WHERE_KEY = (
    IdempotencyKey.user_id == bindparam("key_user_id", type_=Uuid),
    IdempotencyKey.key == bindparam("key_text", type_=String),
)
READ_KEY = query(
    select(
        IdempotencyKey.request_fingerprint,
        IdempotencyKey.status_code,
        IdempotencyKey.response_headers,
        IdempotencyKey.response_body,
    ).where(*_WHERE_KEY)
)
STORE_RESPONSE = query(
    update(IdempotencyKey)
    .where(*_WHERE_KEY)
    .values(
        status_code=bindparam("status_code", type_=Integer),
        response_headers=bindparam("headers", type_=IdempotencyKey.response_headers.type),
        response_body=bindparam("body", type_=Text),
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
    *,
    ttl: timedelta,
    now: datetime,
) -> bool:
    """Whether this transaction now owns the key: a new one, or one that had expired. One
    atomic statement."""
    claimed = await connection.fetchval(
        CLAIM_KEY[connection.dialect_name],
        {
            "user_id": user_id,
            "key": key,
            "fingerprint": request_fingerprint,
            "now": now,
            "expires_at": now + ttl,
        },
    )
    return claimed is not None


async def read_key(connection: Connection, user_id: uuid.UUID, key: str) -> StoredKey | None:
    row = await connection.fetchrow(READ_KEY, {"key_user_id": user_id, "key_text": key})
    if row is None:
        return None
    response = None
    if row["status_code"] is not None and row["response_body"] is not None:
        response = StoredResponse(
            row["status_code"], dict(row["response_headers"] or {}), row["response_body"]
        )
    return StoredKey(row["request_fingerprint"], response)


async def store_response(
    connection: Connection, user_id: uuid.UUID, key: str, response: StoredResponse
) -> None:
    """Keep the response of the request that claimed `key`, in its transaction."""
    await connection.execute(
        STORE_RESPONSE,
        {
            "key_user_id": user_id,
            "key_text": key,
            "status_code": response.status_code,
            "headers": response.headers,
            "body": response.body,
        },
    )


async def delete_expired_keys(connection: Connection, *, now: datetime, limit: int) -> int:
    """Delete up to `limit` keys expired by `now`, the earliest first; how many."""
    return await connection.execute(
        DELETE_EXPIRED[connection.dialect_name], {"now": now, BATCH_SIZE: limit}
    )
