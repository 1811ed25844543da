"""Throwaway Postgres databases for tests.

The server comes from `TEST_DATABASE_URL` (an admin URL) when it is set, otherwise from a
container started through testcontainers; failing both, the run stops with instructions.
Each test gets its own database, cloned from a migrated template in a few milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import URL, make_url

HOW_TO_PROVIDE = (
    "The database tests need a Postgres server. Either set TEST_DATABASE_URL to an admin URL "
    "(for example postgresql://postgres@127.0.0.1:5432/postgres; the tests create and drop "
    "their own databases), or start a Docker engine so that testcontainers can run one."
)


@contextmanager
def postgres_server() -> Iterator[URL]:
    """The admin URL of a Postgres server the tests may create databases on."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield make_url(configured)
        return
    try:
        from testcontainers.community.postgres import PostgresContainer

        container = PostgresContainer("postgres:16-alpine", driver=None)
        container.start()
    except Exception as exc:
        raise RuntimeError(f"{HOW_TO_PROVIDE} (testcontainers: {exc!r})") from exc
    try:
        yield make_url(container.get_connection_url())
    finally:
        container.stop()


def _dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _execute(admin_url: URL, *statements: str) -> None:
    connection = await asyncpg.connect(_dsn(admin_url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


class Databases:
    """Creates and drops databases on one server; names are unique per call."""

    def __init__(self, admin_url: URL) -> None:
        self.admin_url = admin_url

    def url_of(self, name: str) -> str:
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def create(self, prefix: str, *, template: str | None = None) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        asyncio.run(_execute(self.admin_url, f'CREATE DATABASE "{name}"{clause}'))
        return name

    def drop(self, name: str) -> None:
        asyncio.run(_execute(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
