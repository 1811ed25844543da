"""A round of a service's clean-up: several batched deletions, one after the other, and one
log line saying what each deleted; and the settings of how they delete."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.batched_delete import DATABASE_SHARE, Deleted

logger = logging.getLogger(__name__)


class HousekeepingSettings(BaseSettings):
    """How a service's periodic clean-up deletes (`shared.batched_delete`): in short
    transactions, taking a bounded share of the database's time from requests."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    housekeeping_batch_size: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Rows each clean-up deletes per transaction: a clean-up with more to do"
        " goes on in further transactions, each short.",
    )
    housekeeping_database_share: float = Field(
        default=DATABASE_SHARE,
        gt=0,
        le=1,
        description="The most of its time a clean-up with a backlog spends in its"
        " transactions: after each it pauses in proportion to how long it took (three times as"
        " long at 0.25), so that requests get the rest, and more of it when the database is"
        " busy. Lower yields more and takes longer; 1 never pauses.",
    )


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
