"""Clients' `Idempotency-Key`s: claimed in the transaction that does the work, each with the
response it got, until they expire."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from order_service.models import IdempotencyKey
from shared.database import dialect_insert


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


async def claim_key(
    connection: AsyncConnection,
    user_id: uuid.UUID,
    key: str,
    request_fingerprint: str,
    *,
    ttl: timedelta,
    now: datetime,
) -> bool:
    """Whether this transaction now owns the key: a new one, or one that had expired.

    One atomic statement; a key still in force is left alone, and a concurrent claim of it
    (not committed yet) is waited for.
    """
    insert = dialect_insert(connection.dialect, IdempotencyKey).values(
        user_id=user_id,
        key=key,
        request_fingerprint=request_fingerprint,
        created_at=now,
        expires_at=now + ttl,
    )
    take_over_if_expired = insert.on_conflict_do_update(
        index_elements=[IdempotencyKey.user_id, IdempotencyKey.key],
        set_={
            "request_fingerprint": insert.excluded.request_fingerprint,
            "created_at": insert.excluded.created_at,
            "expires_at": insert.excluded.expires_at,
            "status_code": None,
            "response_headers": None,
            "response_body": None,
        },
        where=IdempotencyKey.expires_at <= now,
    ).returning(IdempotencyKey.key)
    return await connection.scalar(take_over_if_expired) is not None


async def read_key(connection: AsyncConnection, user_id: uuid.UUID, key: str) -> StoredKey | None:
    row = (
        await connection.execute(
            select(
                IdempotencyKey.request_fingerprint,
                IdempotencyKey.status_code,
                IdempotencyKey.response_headers,
                IdempotencyKey.response_body,
            ).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        )
    ).one_or_none()
    if row is None:
        return None
    response = None
    if row.status_code is not None and row.response_body is not None:
        response = StoredResponse(
            row.status_code, dict(row.response_headers or {}), row.response_body
        )
    return StoredKey(row.request_fingerprint, response)


async def store_response(
    connection: AsyncConnection, user_id: uuid.UUID, key: str, response: StoredResponse
) -> None:
    """Keep the response of the request that claimed `key`, in its transaction."""
    await connection.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(
            status_code=response.status_code,
            response_headers=response.headers,
            response_body=response.body,
        )
    )


async def delete_expired_keys(connection: AsyncConnection, *, now: datetime) -> None:
    await connection.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
