"""Which failures count as "the database is away", and the bounds that keep them from hanging.

The failures are real ones, from a real Postgres behind a forwarder the tests cut and stall,
except for the few a test cannot provoke on a shared server (a server starting up, or full).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncpg.exceptions import (
    AdminShutdownError,
    CannotConnectNowError,
    QueryCanceledError,
    TooManyConnectionsError,
    UniqueViolationError,
)
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import create_engine
from shared.database_outage import install_database_outage_handler, is_database_unavailable
from shared.logging import JsonFormatter
from shared.settings import DatabaseSettings
from tests.shared.conftest import build_frame_app, client_for
from tests.support.postgres import Databases
from tests.support.tcp_forwarder import TcpForwarder

# Short bounds keep the suite fast (the defaults are 5 s), yet leave the steps that must
# succeed room on a loaded machine: a fresh connection can take a good part of 0.3 s there.
TIMEOUT_SECONDS = 1.0
# For the tests of how late after its timeout a failure comes: long enough that a wait on
# top of it (closing a broken connection politely takes up to 2 s more) would show.
COMMAND_TIMEOUT_SECONDS = 1.0
# A failure comes at most this long after its timeout: the README's half a second, with room
# for a loaded test machine, and still well below the 2 s that closing a broken connection
# politely used to add.
GRACE_SECONDS = 1.0
# No test may take longer than this, whatever happens to the database. A stalled database
# never answers: only the bounds end such a wait before this deadline fails the test.
TEST_DEADLINE_SECONDS = 20


def _settings(database_url: str, timeout_seconds: float = TIMEOUT_SECONDS) -> DatabaseSettings:
    return DatabaseSettings(
        database_url=database_url,
        database_connect_timeout_seconds=timeout_seconds,
        database_command_timeout_seconds=timeout_seconds,
        database_pool_timeout_seconds=timeout_seconds,
    )


@pytest.fixture
def admin_url(databases: Databases) -> str:
    return databases.admin_url.render_as_string(hide_password=False)


@pytest.fixture
async def forwarder(admin_url: str) -> AsyncIterator[TcpForwarder]:
    async with TcpForwarder.in_front_of(admin_url) as forwarder:
        yield forwarder


@pytest.fixture
async def engine(forwarder: TcpForwarder, admin_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine with short timeouts, reaching Postgres through the forwarder."""
    engine = create_engine(_settings(forwarder.url_through(admin_url)))
    yield engine
    await engine.dispose()


async def _select_one(engine: AsyncEngine) -> int | None:
    async with engine.connect() as connection:
        value: int | None = await connection.scalar(text("SELECT 1"))
        return value


async def _failure_of(engine: AsyncEngine, sql: str = "SELECT 1") -> Exception:
    try:
        async with engine.connect() as connection:
            await connection.execute(text(sql))
    except Exception as error:
        return error
    raise AssertionError("the statement succeeded")


async def test_a_refused_connection_is_an_outage(
    forwarder: TcpForwarder, engine: AsyncEngine
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        await forwarder.cut()

        assert is_database_unavailable(await _failure_of(engine))


async def test_a_pooled_connection_broken_by_an_outage_is_replaced_once_it_ends(
    forwarder: TcpForwarder, engine: AsyncEngine
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        assert await _select_one(engine) == 1
        await forwarder.cut()
        assert is_database_unavailable(await _failure_of(engine))

        await forwarder.restore()

        assert await _select_one(engine) == 1


async def test_a_connection_broken_mid_transaction_is_an_outage(
    forwarder: TcpForwarder, engine: AsyncEngine
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await forwarder.cut()
            with pytest.raises(DBAPIError) as raised:
                await connection.execute(text("SELECT 2"))

        assert raised.value.connection_invalidated
        assert is_database_unavailable(raised.value)


async def test_a_connection_the_server_terminates_is_an_outage(admin_url: str) -> None:
    # Default timeouts: the statement must outlive the polling that finds it running.
    engine = create_engine(DatabaseSettings(database_url=admin_url))
    admin = create_engine(DatabaseSettings(database_url=admin_url))
    running = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE pid = :pid AND state = 'active' AND query LIKE 'SELECT pg_sleep%'"
    )

    async def terminate_once_running(pid: int) -> None:
        async with admin.connect() as connection:
            # Polled: what it waits for happens in the server, which sends no event.
            while not await connection.scalar(running, {"pid": pid}):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    try:
        async with asyncio.timeout(TEST_DEADLINE_SECONDS), engine.connect() as connection:
            pid = await connection.scalar(text("SELECT pg_backend_pid()"))
            assert isinstance(pid, int)
            terminating = asyncio.create_task(terminate_once_running(pid))
            with pytest.raises(DBAPIError) as raised:
                await connection.execute(text("SELECT pg_sleep(60)"))
            await terminating
    finally:
        await engine.dispose()
        await admin.dispose()

    assert is_database_unavailable(raised.value)


async def test_a_stalled_server_fails_the_connect_within_the_connect_timeout(
    forwarder: TcpForwarder, engine: AsyncEngine
) -> None:
    forwarder.stall()

    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        error = await _failure_of(engine)

    assert is_database_unavailable(error)


async def test_a_statement_over_the_command_timeout_is_cancelled_and_the_pool_recovers(
    engine: AsyncEngine,
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):  # shorter than the statement
        error = await _failure_of(engine, "SELECT pg_sleep(30)")

        assert is_database_unavailable(error)
        assert await _select_one(engine) == 1


async def test_a_statement_over_the_command_timeout_stops_on_the_server_too(
    engine: AsyncEngine, admin_url: str
) -> None:
    marker = f"abandoned-{uuid.uuid4().hex}"
    running = text(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE :marker"
        " AND pid <> pg_backend_pid()"
    )
    admin = create_engine(DatabaseSettings(database_url=admin_url))
    try:
        async with asyncio.timeout(TEST_DEADLINE_SECONDS):
            error = await _failure_of(engine, f"SELECT pg_sleep(30) /* {marker} */")
            assert is_database_unavailable(error)

            async with admin.connect() as connection:
                # Polled: what it waits for happens in the server, which sends no event.
                while await connection.scalar(running, {"marker": f"%{marker}%"}):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
    finally:
        await admin.dispose()


async def test_a_hung_statement_fails_within_the_command_timeout_and_the_pool_recovers_at_once(
    forwarder: TcpForwarder, admin_url: str
) -> None:
    engine = create_engine(_settings(forwarder.url_through(admin_url), COMMAND_TIMEOUT_SECONDS))
    try:
        async with asyncio.timeout(TEST_DEADLINE_SECONDS):
            assert await _select_one(engine) == 1
            forwarder.stall()

        # On a pooled connection whose server stopped answering mid-statement: the failure
        # comes with the command timeout, and the broken connection is dropped, not waited on.
        async with asyncio.timeout(COMMAND_TIMEOUT_SECONDS + GRACE_SECONDS):
            error = await _failure_of(engine)
        assert is_database_unavailable(error)

        await forwarder.restore()
        async with asyncio.timeout(1):
            assert await _select_one(engine) == 1
    finally:
        await forwarder.restore()  # Disposing of the pool closes its connections politely.
        await engine.dispose()


async def test_an_integrity_error_is_not_an_outage(engine: AsyncEngine) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS), engine.connect() as connection:
        await connection.execute(text("CREATE TEMPORARY TABLE items (id integer PRIMARY KEY)"))
        await connection.execute(text("INSERT INTO items VALUES (1)"))
        with pytest.raises(IntegrityError) as raised:
            await connection.execute(text("INSERT INTO items VALUES (1)"))

    assert not is_database_unavailable(raised.value)


async def test_a_bad_statement_is_not_an_outage(engine: AsyncEngine) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS), engine.connect() as connection:
        with pytest.raises(ProgrammingError) as raised:
            await connection.execute(text("SELECT * FROM no_such_table"))

    assert not is_database_unavailable(raised.value)


def _wrapped(driver_error: Exception) -> DBAPIError:
    """`driver_error` as SQLAlchemy raises it: wrapped, the driver's error as `orig`."""
    return DBAPIError("SELECT 1", None, driver_error)


@pytest.mark.parametrize(
    "error",
    [
        CannotConnectNowError("the database system is starting up"),
        _wrapped(CannotConnectNowError("the database system is starting up")),
        _wrapped(AdminShutdownError("terminating connection due to administrator command")),
        _wrapped(TooManyConnectionsError("sorry, too many clients already")),
        _wrapped(QueryCanceledError("canceling statement due to statement timeout")),
        PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed, [Errno 99] ..."),
        OSError(errno.ENETUNREACH, "Network is unreachable"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_failures_that_say_the_database_is_away_are_outages(error: Exception) -> None:
    assert is_database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("a bug"),
        ValueError("a bad value"),
        FileNotFoundError(errno.ENOENT, "No such file or directory"),
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.ENOSPC, "No space left on device"),
        _wrapped(UniqueViolationError("duplicate key value violates unique constraint")),
        IntegrityError("INSERT", None, UniqueViolationError("duplicate key")),
    ],
    ids=lambda error: type(error).__name__,
)
def test_other_failures_are_not_outages(error: Exception) -> None:
    assert not is_database_unavailable(error)


def _app_raising(error: Exception) -> FastAPI:
    app = build_frame_app()
    install_database_outage_handler(app)

    @app.get("/fails")
    async def fails() -> None:
        raise error

    return app


async def test_an_outage_answers_a_503_problem_with_retry_after_and_logs_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.database_outage")
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('10.0.0.7', 5432)")

    async with client_for(_app_raising(refused)) as client:
        response = await client.get("/fails", headers={"X-Request-ID": "outage-1"})

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["status"] == 503
    assert response.json()["request_id"] == "outage-1"
    [record] = [r for r in caplog.records if r.getMessage() == "database_unavailable"]
    line = JsonFormatter("frame").format(record)
    assert json.loads(line)["request_id"] == "outage-1"
    assert json.loads(line)["error"] == "ConnectionRefusedError"
    # Type names only: no message, which may name the server or quote the statement.
    assert "10.0.0.7" not in line


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT", None, UniqueViolationError("duplicate key")),
        RuntimeError("a bug"),
        FileNotFoundError(errno.ENOENT, "No such file or directory"),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_other_failures_stay_500_problems(error: Exception) -> None:
    async with client_for(_app_raising(error)) as client:
        response = await client.get("/fails")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in response.headers


async def test_the_handler_leaves_a_requests_own_errors_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = build_frame_app()
    install_database_outage_handler(app)

    async with client_for(app) as client:
        response = await client.get("/conflict")

    assert response.status_code == 409
    assert not [r for r in caplog.records if r.getMessage() == "database_unavailable"]


async def test_sqlite_works_with_the_same_settings(tmp_path: Path) -> None:
    engine = create_engine(_settings(f"sqlite:///{tmp_path / 'test.db'}"))
    try:
        assert await _select_one(engine) == 1
    finally:
        await engine.dispose()
