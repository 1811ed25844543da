"""Background jobs that repeat for as long as a service runs (clean-ups, mostly)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

logger = logging.getLogger(__name__)


async def _repeat(job: Callable[[], Awaitable[None]], name: str, interval_seconds: float) -> None:
    while True:
        try:
            await job()
        except Exception:
            # A failed round (the database briefly away) must not end the next ones.
            logger.exception("periodic_job_failed", extra={"job": name})
        await asyncio.sleep(interval_seconds)


@asynccontextmanager
async def running_periodically(
    job: Callable[[], Awaitable[None]], *, name: str, interval_seconds: float
) -> AsyncIterator[None]:
    """Run `job` now and then every `interval_seconds` until the block exits."""
    task = asyncio.create_task(_repeat(job, name, interval_seconds), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
