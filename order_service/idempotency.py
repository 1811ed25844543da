"""`Idempotency-Key` (IETF draft "The Idempotency-Key HTTP Header Field"): a retried request
gets the first one's response instead of doing the work twice.

A key is claimed by inserting its row in the same transaction that does the work, so the
database settles every race, across replicas too: a concurrent duplicate waits on the
claim until the first commits (then replays its response) or rolls back (then does the
work itself). A request that fails leaves no key behind, so its retry runs afresh.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from order_service.models import IdempotencyKey
from shared.database import utc_now


class IdempotencyKeyReused(Exception):
    """The key came back with a different request."""


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    headers: dict[str, str]
    body: str


def fingerprint(method: str, path: str, body: Any) -> str:
    """The request as the key is bound to it: method, path and the body's JSON content
    (so formatting and key order do not matter)."""
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# A key deleted by the clean-up between our insert and our read is simply claimed again.
_CLAIM_ATTEMPTS = 3


async def claim(
    connection: AsyncConnection,
    user_id: uuid.UUID,
    key: str,
    request_fingerprint: str,
    *,
    ttl: timedelta,
    now: datetime,
) -> StoredResponse | None:
    """None when this request now owns the key (and must `remember` its response), else
    the response to replay. Raises `IdempotencyKeyReused` for a different request."""
    is_postgres = connection.dialect.name == "postgresql"
    insert = (postgresql.insert if is_postgres else sqlite.insert)(IdempotencyKey).values(
        user_id=user_id,
        key=key,
        request_fingerprint=request_fingerprint,
        created_at=now,
        expires_at=now + ttl,
    )
    # One atomic statement claims a new key or takes over an expired one; a key still in
    # force is left alone (and a concurrent claim of it is waited for).
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
    for _ in range(_CLAIM_ATTEMPTS):
        if await connection.scalar(take_over_if_expired) is not None:
            return None
        stored = (
            await connection.execute(
                select(
                    IdempotencyKey.request_fingerprint,
                    IdempotencyKey.status_code,
                    IdempotencyKey.response_headers,
                    IdempotencyKey.response_body,
                ).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            )
        ).one_or_none()
        if stored is not None:
            return _replay(key, stored, request_fingerprint)
    raise RuntimeError(f"idempotency key {key!r} could not be claimed or read")


def _replay(
    key: str,
    stored: Row[str, int | None, dict[str, str] | None, str | None],
    request_fingerprint: str,
) -> StoredResponse:
    if stored.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(key)
    if stored.status_code is None or stored.response_body is None:
        raise RuntimeError("an idempotency key was committed without its response")
    return StoredResponse(
        stored.status_code, dict(stored.response_headers or {}), stored.response_body
    )


async def remember(
    connection: AsyncConnection, user_id: uuid.UUID, key: str, response: StoredResponse
) -> None:
    """Store the response of the request that claimed `key`, in its transaction."""
    await connection.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(
            status_code=response.status_code,
            response_headers=response.headers,
            response_body=response.body,
        )
    )


async def delete_expired_keys(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Forget keys past their time (a periodic job)."""
    async with sessionmaker() as session, session.begin():
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utc_now()))
