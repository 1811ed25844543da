from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, Table, select, text, update
from starlette.types import Message, Receive, Scope, Send

from shared.database import DatabaseSession, create_engine, create_sessionmaker, open_database
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


async def test_a_handlers_session_is_closed_before_its_response_goes_out(
    tmp_path: Path,
) -> None:
    settings = DatabaseSettings(database_url=f"sqlite:///{tmp_path / 'test.db'}")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_database(app, settings):
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def read(session: DatabaseSession) -> int:
        value: int = (await session.execute(text("SELECT 1"))).scalar_one()
        return value

    connections_out_at_response_start: list[int] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                connections_out_at_response_start.append(app.state.engine.pool.checkedout())
            await send(message)

        await app(scope, receive, send_recording)

    transport = httpx.ASGITransport(app=recording)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        assert (await client.get("/")).json() == 1

    assert connections_out_at_response_start == [0]
