from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, select, update

from shared.database import create_engine, create_sessionmaker
from shared.settings import DatabaseSettings

counters = Table("counters", MetaData(), Column("value", Integer, nullable=False))


async def test_sqlite_transactions_run_one_after_another_so_no_update_is_lost(
    tmp_path: Path,
) -> None:
    engine = create_engine(DatabaseSettings(database_url=f"sqlite:///{tmp_path / 'test.db'}"))
    async with engine.begin() as connection:
        await connection.run_sync(counters.metadata.create_all)
        await connection.execute(counters.insert().values(value=0))
    sessionmaker = create_sessionmaker(engine)
    first_has_read, second_has_read = asyncio.Event(), asyncio.Event()

    async def increment(*, first: bool) -> None:
        async with sessionmaker() as session, session.begin():
            value = (await session.execute(select(counters.c.value))).scalar_one()
            if first:
                first_has_read.set()
                # The second transaction cannot even start reading until this one commits.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(second_has_read.wait(), timeout=0.5)
            else:
                second_has_read.set()
            await session.execute(update(counters).values(value=value + 1))

    async def increment_second() -> None:
        await first_has_read.wait()
        await increment(first=False)

    try:
        await asyncio.gather(increment(first=True), increment_second())
        async with engine.connect() as connection:
            assert await connection.scalar(select(counters.c.value)) == 2
    finally:
        await engine.dispose()
