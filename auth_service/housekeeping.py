"""Deleting what has expired: refresh tokens past any use, attempt counters past their window.
Each in batches, a transaction each (`shared.batched_delete`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service import refresh_tokens
from auth_service.attempt_counters import AttemptCounters
from shared.batched_delete import DATABASE_SHARE, Deleted, delete_in_batches
from shared.database import utc_now
from shared.housekeeping import clean_up

# One batch, in the session's transaction: how many rows it deleted.
BatchDeletion = Callable[[AsyncSession, int], Awaitable[int]]


def in_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
    delete_batch: BatchDeletion,
    batch_size: int,
    database_share: float = DATABASE_SHARE,
) -> Callable[[], Awaitable[Deleted]]:
    """The deletion, each of its batches in a transaction of its own."""

    async def delete_batch_in_transaction(limit: int) -> int:
        async with sessionmaker() as session, session.begin():
            return await delete_batch(session, limit)

    return lambda: delete_in_batches(
        delete_batch_in_transaction, batch_size=batch_size, database_share=database_share
    )


async def delete_expired_records(
    sessionmaker: async_sessionmaker[AsyncSession],
    attempt_counters: Sequence[AttemptCounters],
    *,
    batch_size: int,
    database_share: float = DATABASE_SHARE,
) -> dict[str, int]:
    """One round of the clean-up; the rows it deleted, by table."""
    now = utc_now()

    async def tokens(session: AsyncSession, limit: int) -> int:
        return await refresh_tokens.delete_expired(session, now=now, limit=limit)

    deletions = {"refresh_tokens": in_batches(sessionmaker, tokens, batch_size, database_share)}
    for counters in attempt_counters:
        deletions[counters.table_name] = in_batches(
            sessionmaker, _counters_batch(counters, now), batch_size, database_share
        )
    return await clean_up(deletions)


def _counters_batch(counters: AttemptCounters, now: datetime) -> BatchDeletion:
    async def delete_batch(session: AsyncSession, limit: int) -> int:
        return await counters.delete_expired(session, now=now, limit=limit)

    return delete_batch
