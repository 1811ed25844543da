"""Batched deletion on a real table, on Postgres and SQLite: each batch its own transaction,
counted as the engine commits them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.batched_delete import (
    BATCH_SIZE,
    Deleted,
    batch_delete,
    delete_in_batches,
    pause_after,
)
from shared.database import create_engine
from shared.housekeeping import clean_up
from shared.settings import DatabaseSettings
from tests.support.postgres import Databases

rows = Table(
    "expiring_rows",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("expires_at", Integer, nullable=False, index=True),
)
NOW = 100


@pytest.fixture
def postgres_url(databases: Databases) -> Iterator[str]:
    name = databases.create("test_batched")
    yield databases.url_of(name)
    databases.drop(name)


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'batched.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@asynccontextmanager
async def table_on(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(database_url=database_url))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(rows.metadata.create_all)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with table_on(database_url) as engine:
        yield engine


@pytest.fixture
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    async with table_on(postgres_url) as engine:
        yield engine


async def add_rows(engine: AsyncEngine, expiries: dict[int, int]) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(rows), [{"id": id_, "expires_at": at} for id_, at in expiries.items()]
        )


async def ids_left(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return list((await connection.scalars(select(rows.c.id).order_by(rows.c.id))).all())


def deleting(engine: AsyncEngine, *, only: Any = None, where: Any = None) -> Any:
    """One batch of expired rows (or of `where`, keeping `only`) in a transaction of its own."""
    statement = batch_delete(
        rows,
        where if where is not None else rows.c.expires_at <= NOW,
        order_by=[rows.c.expires_at if only is None else rows.c.id],
        dialect_name=engine.dialect.name,
        only=only,
    )

    async def delete_batch(limit: int) -> int:
        async with engine.begin() as connection:
            result = await connection.execute(statement, {BATCH_SIZE: limit})
            return int(result.rowcount)

    return delete_batch


def count_commits(engine: AsyncEngine) -> list[object]:
    commits: list[object] = []
    event.listen(engine.sync_engine, "commit", commits.append)
    return commits


async def test_a_backlog_larger_than_a_batch_is_deleted_in_several_transactions(
    engine: AsyncEngine,
) -> None:
    await add_rows(engine, {id_: NOW - id_ for id_ in range(1, 36)})
    await add_rows(engine, {id_: NOW + id_ for id_ in range(36, 41)})
    commits = count_commits(engine)

    deleted = await delete_in_batches(deleting(engine), batch_size=10)

    assert deleted.batches == (10, 10, 10, 5)
    assert deleted.rows == 35
    assert len(commits) == 4
    assert await ids_left(engine) == list(range(36, 41))


class FakeTime:
    """A clock that moves only when a batch says it took time, and the pauses slept on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def taking(self, delete_batch: Any, seconds: list[float]) -> Any:
        """`delete_batch`, each call taking the next of `seconds`."""
        durations = iter(seconds)

        async def timed(limit: int) -> int:
            deleted: int = await delete_batch(limit)
            self.now += next(durations)
            return deleted

        return timed


async def test_after_each_batch_but_the_last_the_pause_follows_how_long_the_batch_took(
    engine: AsyncEngine,
) -> None:
    await add_rows(engine, {id_: NOW - id_ for id_ in range(1, 36)})
    time = FakeTime()

    deleted = await delete_in_batches(
        time.taking(deleting(engine), [0.004, 0.020, 0.010, 0.002]),
        batch_size=10,
        database_share=0.25,
        clock=time.clock,
        sleep=time.sleep,
    )

    assert deleted.batches == (10, 10, 10, 5)
    assert deleted.batch_seconds == pytest.approx(0.036)
    # Three times each batch's time: batches fill a quarter of the clean-up's.
    assert time.pauses == pytest.approx([0.012, 0.060, 0.030])
    assert sum([0.004, 0.020, 0.010, 0.002]) / time.now == pytest.approx(0.25, abs=0.02)


def test_the_share_sets_how_long_the_pause_is_beside_the_batch() -> None:
    assert pause_after(0.01, 0.25) == pytest.approx(0.03)
    assert pause_after(0.01, 0.5) == pytest.approx(0.01)
    assert pause_after(0.01, 0.1) == pytest.approx(0.09)
    assert pause_after(0.01, 1.0) == 0


async def test_a_clean_up_with_nothing_to_delete_is_one_short_transaction(
    engine: AsyncEngine,
) -> None:
    await add_rows(engine, {1: NOW + 1})
    commits = count_commits(engine)

    deleted = await delete_in_batches(deleting(engine), batch_size=10)

    assert (deleted.batches, len(commits)) == ((0,), 1)
    assert await ids_left(engine) == [1]


async def test_with_only_a_batch_deletes_the_due_rows_among_the_first_and_the_loop_stops(
    engine: AsyncEngine,
) -> None:
    # In id order: 25 due rows, one not due yet, then 10 due again.
    await add_rows(engine, dict.fromkeys(range(1, 26), NOW - 1))
    await add_rows(engine, {26: NOW + 1})
    await add_rows(engine, dict.fromkeys(range(27, 37), NOW - 1))

    deleted = await delete_in_batches(
        deleting(engine, where=rows.c.id > 0, only=rows.c.expires_at <= NOW), batch_size=10
    )

    # The third batch looks at rows 21 to 30 only: the one not due stops the clean-up there.
    assert deleted.batches == (10, 10, 9)
    assert await ids_left(engine) == [26, *range(31, 37)]


async def test_a_cancelled_clean_up_keeps_the_batches_it_committed(engine: AsyncEngine) -> None:
    await add_rows(engine, {id_: NOW - id_ for id_ in range(1, 36)})
    delete_batch = deleting(engine)
    batches = 0

    async def delete_then_cancel_after_two(limit: int) -> int:
        nonlocal batches
        deleted: int = await delete_batch(limit)
        batches += 1
        if batches == 2:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
        return deleted

    with pytest.raises(asyncio.CancelledError):
        await delete_in_batches(delete_then_cancel_after_two, batch_size=10)

    assert batches == 2
    assert len(await ids_left(engine)) == 15


async def test_rows_another_transaction_holds_are_skipped_not_waited_for(
    postgres_engine: AsyncEngine,
) -> None:
    # Postgres only: SQLite runs one writing transaction at a time, so no row is ever held.
    engine = postgres_engine
    await add_rows(engine, {id_: NOW - id_ for id_ in range(1, 16)})
    async with engine.connect() as holder, holder.begin():
        await holder.execute(select(rows.c.id).where(rows.c.id == 7).with_for_update())
        async with asyncio.timeout(10):
            deleted = await delete_in_batches(deleting(engine), batch_size=10)

    assert deleted.rows == 14
    assert await ids_left(engine) == [7]


async def test_a_failing_batch_keeps_what_the_batches_before_it_deleted(
    engine: AsyncEngine,
) -> None:
    await add_rows(engine, {id_: NOW - id_ for id_ in range(1, 36)})
    delete_batch = deleting(engine)
    batches = 0

    async def fail_at_the_third(limit: int) -> int:
        nonlocal batches
        batches += 1
        if batches == 3:
            raise RuntimeError("the database went away")
        deleted: int = await delete_batch(limit)
        return deleted

    with pytest.raises(RuntimeError):
        await delete_in_batches(fail_at_the_third, batch_size=10)
    assert len(await ids_left(engine)) == 15

    # The next round goes on from there.
    assert (await delete_in_batches(delete_batch, batch_size=10)).batches == (10, 5)
    assert await ids_left(engine) == []


async def test_a_failing_deletion_does_not_keep_the_others_of_a_round_from_running(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.housekeeping")
    await add_rows(engine, {id_: NOW - id_ for id_ in range(1, 16)})

    async def failing() -> Deleted:
        raise RuntimeError("the database went away")

    with pytest.raises(ExceptionGroup) as raised:
        await clean_up(
            {
                "failing": failing,
                "expiring_rows": lambda: delete_in_batches(deleting(engine), batch_size=10),
            }
        )

    assert [str(error) for error in raised.value.exceptions] == ["the database went away"]
    assert await ids_left(engine) == []
    [record] = [record for record in caplog.records if record.msg == "expired_records_deleted"]
    assert (vars(record)["expiring_rows"], vars(record)["failed"]) == (15, ["failing"])
