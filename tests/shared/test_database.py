from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.types import Message, Receive, Scope, Send

from shared.database import (
    DatabaseSession,
    autocommit_engine,
    create_engine,
    create_sessionmaker,
    open_database,
)
from shared.settings import DatabaseSettings
from tests.shared.round_trips import RoundTripCounter
from tests.support.apps import app_client
from tests.support.postgres import Databases

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


async def test_a_handlers_session_is_closed_before_its_response_goes_out(
    tmp_path: Path,
) -> None:
    settings = DatabaseSettings(database_url=f"sqlite:///{tmp_path / 'test.db'}")

    engines: list[AsyncEngine] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with open_database(settings) as (engine, sessionmaker):
            engines.append(engine)
            yield {"sessionmaker": sessionmaker}

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def read(session: DatabaseSession) -> int:
        value: int = (await session.execute(text("SELECT 1"))).scalar_one()
        return value

    connections_out_at_response_start: list[int] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                pool = engines[0].pool
                assert isinstance(pool, QueuePool)
                connections_out_at_response_start.append(pool.checkedout())
            await send(message)

        await app(scope, receive, send_recording)

    async with app_client(recording, "http://test") as client:
        assert (await client.get("/")).json() == 1

    assert connections_out_at_response_start == [0]


@pytest.fixture
def admin_url(databases: Databases) -> str:
    return databases.admin_url.render_as_string(hide_password=False)


@pytest.fixture
async def counter(admin_url: str) -> AsyncIterator[RoundTripCounter]:
    async with RoundTripCounter.in_front_of(admin_url) as counter:
        yield counter


@pytest.fixture
async def counted_engine(counter: RoundTripCounter, admin_url: str) -> AsyncIterator[AsyncEngine]:
    """A Postgres engine whose round trips `counter` counts."""
    engine = create_engine(DatabaseSettings(database_url=counter.url_through(admin_url)))
    yield engine
    await engine.dispose()


async def _round_trips_to_select_one(counter: RoundTripCounter, engine: AsyncEngine) -> int:
    before = counter.round_trips
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT 1")) == 1
    return counter.round_trips - before


async def test_checking_out_a_pooled_connection_takes_no_round_trip(
    counter: RoundTripCounter, counted_engine: AsyncEngine
) -> None:
    await _round_trips_to_select_one(counter, counted_engine)  # connects, prepares

    # BEGIN, the statement, ROLLBACK; a pre-ping would add three more.
    assert await _round_trips_to_select_one(counter, counted_engine) == 3


async def test_a_read_on_the_autocommit_engine_is_one_round_trip(
    counter: RoundTripCounter, counted_engine: AsyncEngine
) -> None:
    read_engine = autocommit_engine(counted_engine)
    await _round_trips_to_select_one(counter, read_engine)

    # No BEGIN, no ROLLBACK: the statement alone.
    assert await _round_trips_to_select_one(counter, read_engine) == 1
    # The pool it shares gives the transactional engine its transactions back.
    assert await _round_trips_to_select_one(counter, counted_engine) == 3


async def test_a_pooled_connection_the_server_closed_is_replaced_without_failing_a_request(
    admin_url: str,
) -> None:
    engine = create_engine(DatabaseSettings(database_url=admin_url))
    admin = create_engine(DatabaseSettings(database_url=admin_url))
    try:
        async with asyncio.timeout(10):
            async with engine.connect() as connection:
                pid = await connection.scalar(text("SELECT pg_backend_pid()"))
                pooled = (await connection.get_raw_connection()).driver_connection
                assert pooled is not None
            async with admin.connect() as connection:
                await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            # Polled: the driver learns of the close from its event loop, which sends no event.
            while not pooled.is_closed():  # noqa: ASYNC110
                await asyncio.sleep(0.01)

            async with engine.connect() as connection:
                new_pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    finally:
        await engine.dispose()
        await admin.dispose()

    assert new_pid not in (None, pid)
