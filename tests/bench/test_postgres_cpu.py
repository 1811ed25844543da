"""Postgres's CPU for a process's requests is read from the backends of that process's own
connections, and of no other's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.postgres_cpu import PostgresCpu, spent
from tests.support.postgres import Databases

# Connects, says its backend's pid, and holds the connection until its input closes.
_CONNECTED = """
import asyncio, sys, asyncpg
async def main():
    connection = await asyncpg.connect(sys.argv[1])
    print(await connection.fetchval("SELECT pg_backend_pid()"), flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await connection.close()
asyncio.run(main())
"""


@pytest.fixture
def admin_url(databases: Databases) -> str:
    return databases.admin_url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def connected(admin_url: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A process with a connection of its own, and that connection's backend."""
    process = subprocess.Popen(
        [sys.executable, "-c", _CONNECTED, admin_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        yield process, int(process.stdout.readline())
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def test_the_backends_are_those_of_the_process_connections(
    admin_url: str, connected: tuple[subprocess.Popen[str], int]
) -> None:
    process, backend = connected
    postgres = PostgresCpu(admin_url)

    assert postgres.seconds_by_backend(process.pid).keys() == {backend}
    # This process holds no connection: none of the other's backends is counted as its own.
    assert postgres.seconds_by_backend(os.getpid()) == {}


@pytest.mark.parametrize(
    "elsewhere", ["postgresql://postgres@db.example.com/postgres", "postgresql:///postgres"]
)
def test_a_postgres_elsewhere_or_through_a_unix_socket_is_refused(elsewhere: str) -> None:
    with pytest.raises(ValueError, match="over TCP"):
        PostgresCpu(elsewhere)


def test_what_was_spent_counts_a_backend_that_came_meanwhile_in_full() -> None:
    assert spent({1: 2.0, 2: 1.0}, {1: 2.5, 2: 1.0, 3: 0.25}) == 0.75


def test_a_backends_cpu_time_is_read_to_the_nanosecond_not_in_clock_ticks(
    admin_url: str, connected: tuple[subprocess.Popen[str], int]
) -> None:
    process, backend = connected
    if not Path(f"/proc/{backend}/schedstat").exists():
        pytest.skip("this kernel keeps no schedstat")

    [seconds] = PostgresCpu(admin_url).seconds_by_backend(process.pid).values()

    # In 10 ms ticks it would be a whole number of them (a chance of one in 10^7 that the
    # nanoseconds are, too).
    assert seconds > 0
    assert abs(seconds * 100 - round(seconds * 100)) > 1e-6
