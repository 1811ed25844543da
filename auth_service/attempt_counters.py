"""Budgets of attempts per key (an account, a client address) in fixed windows.

The counters live in the database, so every replica spends from the same budget. An attempt
is counted before the work it guards, so that concurrent attempts cannot overrun the budget.
Windows are fixed, so up to twice a budget fits around a window's edge: bounded, and simple
enough for one upsert.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import case, inspect, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.models import AttemptCounter
from shared.batched_delete import BATCH_SIZE, batch_delete
from shared.database import UTCDateTime


class Throttled(Exception):
    """Over budget; the client may try again in `retry_after_seconds`."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


def counter_key(kind: str, value: str) -> str:
    """The stored key of a budget: hashed, so that no email is stored for a non-account."""
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def client_network(address: str) -> str:
    """Whom an address budget is for: the address, or for IPv6 its /64 (one subscriber's)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def address_key(address: str) -> str:
    return counter_key("address", client_network(address))


@dataclass(frozen=True)
class AttemptCounters:
    """The counters of one table, whose windows last `window`."""

    table: type[AttemptCounter]
    window: timedelta

    @property
    def table_name(self) -> str:
        return str(inspect(self.table).local_table.description)

    async def spend(self, session: AsyncSession, key: str, budget: int, *, now: datetime) -> None:
        """Count one attempt against `key`; raise `Throttled` when it is over `budget`.

        Raised inside the caller's transaction, it rolls the counting back: refused attempts
        do not extend anything.
        """
        attempts, window_started_at = await self._add_attempt(session, key, now)
        if attempts > budget:
            reopens_at = window_started_at + self.window
            raise Throttled(max(1, math.ceil((reopens_at - now).total_seconds())))

    async def delete_expired(self, session: AsyncSession, *, now: datetime, limit: int) -> int:
        """Forget up to `limit` counters whose window is over, the oldest first; how many."""
        statement = batch_delete(
            inspect(self.table).local_table,
            self.table.window_started_at <= now - self.window,
            order_by=[self.table.window_started_at],
            dialect_name=session.get_bind().dialect.name,
        )
        deleted = cast(
            CursorResult[tuple[()]], await session.execute(statement, {BATCH_SIZE: limit})
        )
        return deleted.rowcount

    async def _add_attempt(
        self, session: AsyncSession, key: str, now: datetime
    ) -> tuple[int, datetime]:
        """Add one attempt to `key` atomically (one upsert), starting a new window if the
        last one is over; the attempts so far and when the window started."""
        # Both dialects spell the upsert the same way; there is no portable one.
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        if dialect not in ("postgresql", "sqlite"):
            raise RuntimeError(f"attempt counting needs Postgres or SQLite, not {dialect}")
        table = self.table
        window_is_over = table.window_started_at <= now - self.window
        statement = (
            insert(table)
            .values(key=key, attempts=1, window_started_at=now)
            .on_conflict_do_update(
                index_elements=[table.key],
                set_={
                    "attempts": case((window_is_over, 1), else_=table.attempts + 1),
                    "window_started_at": case(
                        (window_is_over, literal(now, UTCDateTime)),
                        else_=table.window_started_at,
                    ),
                },
            )
            .returning(table.attempts, table.window_started_at)
        )
        attempts, window_started_at = (await session.execute(statement)).one()
        return attempts, window_started_at
