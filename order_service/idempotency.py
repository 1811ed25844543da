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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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


async def claim(
    session: AsyncSession,
    user_id: uuid.UUID,
    key: str,
    request_fingerprint: str,
    *,
    ttl: timedelta,
    now: datetime,
) -> StoredResponse | None:
    """None when this request now owns the key (and must `remember` its response), else
    the response to replay. Raises `IdempotencyKeyReused` for a different request."""
    is_postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert if is_postgres else sqlite.insert
    claimed = await session.scalar(
        insert(IdempotencyKey)
        .values(
            user_id=user_id,
            key=key,
            request_fingerprint=request_fingerprint,
            created_at=now,
            expires_at=now + ttl,
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    if claimed is not None:
        return None
    stored = await session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .with_for_update()
    )
    assert stored is not None  # the conflict was with a committed row
    if stored.expires_at <= now:
        # An expired key is free again (the clean-up had not come by yet).
        await session.delete(stored)
        await session.flush()
        return await claim(session, user_id, key, request_fingerprint, ttl=ttl, now=now)
    if stored.request_fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(key)
    assert stored.status_code is not None
    assert stored.response_body is not None
    return StoredResponse(
        stored.status_code, dict(stored.response_headers or {}), stored.response_body
    )


async def remember(
    session: AsyncSession, user_id: uuid.UUID, key: str, response: StoredResponse
) -> None:
    """Store the response of the request that claimed `key`, in its transaction."""
    await session.execute(
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
