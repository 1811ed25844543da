"""Deleting many rows a batch at a time: each batch a short transaction of its own, so that a
clean-up never holds locks or a snapshot for long, never meets the statement timeout, and
makes progress whatever its backlog (what each batch deleted stays deleted if a later one
fails). Between two batches it pauses in proportion to how long the last one took, so that
its batches fill at most a share of its time (a duty cycle): requests get the rest, and the
more so the busier the database is, since a batch then takes longer and so does the pause.

A batch deletes the first rows, in the order of an index, that match a condition: the
statement reads about as many index entries as it deletes, however large the table. On
Postgres the rows are locked as they are chosen, and rows another transaction holds (a
request taking over an expired row, say) are skipped rather than waited for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    Delete,
    FromClause,
    Integer,
    TableClause,
    bindparam,
    delete,
    literal_column,
    tuple_,
)
from sqlalchemy import select as select_columns

logger = logging.getLogger(__name__)

# The parameter of a batch statement that is the batch's size.
BATCH_SIZE = "batch_size"
# The most of its time a clean-up with a backlog spends in batches: after a batch it pauses
# three times as long as the batch took, so a backlog takes four times its batches' time. A
# constant pause (10 ms) yielded by luck: beside checkout on 2 shared cores a batch of 1000
# took 10-48 ms, the clean-up was in the database 50-80% of its time, and checkout lost up to
# a third of its throughput.
DATABASE_SHARE = 0.25


def pause_after(batch_seconds: float, database_share: float) -> float:
    """The pause after a batch that took `batch_seconds`: batches then fill `database_share`
    of the clean-up's time."""
    return batch_seconds * (1 - database_share) / database_share


def batch_delete(
    table: FromClause,
    where: ColumnElement[bool],
    *,
    order_by: Sequence[ColumnExpressionArgument[Any]],
    dialect_name: str,
    only: ColumnElement[bool] | None = None,
) -> Delete:
    """A statement that deletes the first `batch_size` rows of `table` (a parameter) matching
    `where`, in `order_by`'s order, which an index must serve.

    With `only`, it deletes those of the first rows that match `only` too: a batch then
    reads no more rows than its size even when none of the rest match, and deleting fewer
    than the size says the rows still to come are not yet due.
    """
    if dialect_name == "sqlite":
        # Every table but WITHOUT ROWID ones has a rowid: one column whatever the key.
        key: list[ColumnElement[Any]] = [literal_column("rowid")]
    else:
        key = list(table.primary_key)
    chosen = (
        select_columns(*key)
        .select_from(table)
        .where(where)
        .order_by(*order_by)
        .limit(bindparam(BATCH_SIZE, type_=Integer))
    )
    if dialect_name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    if only is not None:
        head = chosen.add_columns(only.label("is_due")).subquery("head")
        chosen = select_columns(*list(head.c)[: len(key)]).where(head.c.is_due)
    target = key[0] if len(key) == 1 else tuple_(*key)
    return delete(cast(TableClause, table)).where(target.in_(chosen))


@dataclass(frozen=True)
class Deleted:
    """What a batched deletion deleted: the rows of each batch, in order; and the seconds its
    batches took (the rest of its time it paused)."""

    batches: tuple[int, ...] = ()
    batch_seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.batches)


async def delete_in_batches(
    delete_batch: Callable[[int], Awaitable[int]],
    *,
    batch_size: int,
    database_share: float = DATABASE_SHARE,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Deleted:
    """Call `delete_batch(batch_size)` (one batch in a transaction of its own, its row count)
    until a batch deletes fewer rows than that: there is nothing more to delete now. After
    each batch but the last it pauses (`pause_after`) so that batches fill at most
    `database_share` of its time; a batch's time counts from asking for a connection to the
    commit, so a busy pool or database makes the clean-up yield more.

    Cancelled, it stops where it is: the batch under way rolls back, the ones before stay.
    """
    batches: list[int] = []
    batch_seconds = 0.0
    try:
        while True:
            started = clock()
            deleted = await delete_batch(batch_size)
            took = clock() - started
            batches.append(deleted)
            batch_seconds += took
            if deleted < batch_size:
                return Deleted(tuple(batches), batch_seconds)
            await sleep(pause_after(took, database_share))
    except asyncio.CancelledError:
        logger.info("batched_delete_cancelled", extra={"rows": sum(batches)})
        raise
