"""Deleting what has expired: refresh tokens past any use, attempt counters past their window."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service import refresh_tokens
from auth_service.attempt_counters import AttemptCounters
from shared.database import utc_now

logger = logging.getLogger(__name__)


async def delete_expired_records(
    sessionmaker: async_sessionmaker[AsyncSession],
    attempt_counters: Sequence[AttemptCounters],
) -> None:
    now = utc_now()
    async with sessionmaker() as session, session.begin():
        tokens = await refresh_tokens.delete_expired(session, now=now)
        counters = 0
        for counted in attempt_counters:
            counters += await counted.delete_expired(session, now=now)
    logger.info("expired_records_deleted", extra={"refresh_tokens": tokens, "counters": counters})
