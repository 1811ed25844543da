"""A round of a service's clean-up: several batched deletions, one after the other, and one
log line saying what each deleted."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from shared.batched_delete import Deleted

logger = logging.getLogger(__name__)


async def clean_up(deletions: Mapping[str, Callable[[], Awaitable[Deleted]]]) -> dict[str, int]:
    """Run each deletion, named by what it deletes; the rows each deleted.

    One that fails does not keep the others from running (what its batches deleted before
    it failed stays deleted, and the next round goes on from there); the round then raises
    their errors together, once it has logged what the others deleted.
    """
    deleted: dict[str, int] = {}
    errors: list[Exception] = []
    for name, deletion in deletions.items():
        try:
            deleted[name] = (await deletion()).rows
        except Exception as error:
            errors.append(error)
    failed = [name for name in deletions if name not in deleted]
    logger.info("expired_records_deleted", extra={**deleted, "failed": failed})
    if errors:
        raise ExceptionGroup(f"clean-up of {', '.join(failed)} failed", errors)
    return deleted
