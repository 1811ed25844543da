"""Login throttling: a budget of attempts per account and per client address, per window.

The counters live in the database, so every replica spends from the same budget. An attempt
is counted before its password is checked, so that concurrent guesses cannot overrun the
budget; a successful login gives its attempt back (and clears the account's count).
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

from sqlalchemy import case, delete, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.config import AuthSettings
from auth_service.models import LoginAttempts
from auth_service.users import normalize_email
from shared.database import UTCDateTime


class LoginThrottled(Exception):
    """Too many login attempts; the client may try again in `retry_after_seconds`."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


def _key(kind: str, value: str) -> str:
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


@dataclass(frozen=True)
class LoginThrottle:
    window: timedelta
    max_attempts_per_account: int
    max_attempts_per_address: int

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> LoginThrottle:
        return cls(
            window=timedelta(seconds=settings.login_window_seconds),
            max_attempts_per_account=settings.login_max_attempts_per_account,
            max_attempts_per_address=settings.login_max_attempts_per_address,
        )

    def _budgets(self, email: str, address: str | None) -> list[tuple[str, int]]:
        budgets = [(_key("account", normalize_email(email)), self.max_attempts_per_account)]
        if address:
            budgets.append(
                (_key("address", client_network(address)), self.max_attempts_per_address)
            )
        return budgets

    async def spend_attempt(
        self, session: AsyncSession, email: str, address: str | None, *, now: datetime
    ) -> None:
        """Count one attempt; raise `LoginThrottled` when it is over either budget.

        Raised inside the caller's transaction, it rolls the counting back: refused attempts
        do not extend anything.
        """
        for key, budget in self._budgets(email, address):
            attempts, window_started_at = await self._add_attempt(session, key, now)
            if attempts > budget:
                reopens_at = window_started_at + self.window
                retry_after = max(1, math.ceil((reopens_at - now).total_seconds()))
                raise LoginThrottled(retry_after)

    async def give_back_attempt(
        self, session: AsyncSession, email: str, address: str | None
    ) -> None:
        """After a successful login: the account starts afresh, the address gets one back."""
        account_key, *address_keys = (key for key, _ in self._budgets(email, address))
        await session.execute(delete(LoginAttempts).where(LoginAttempts.key == account_key))
        for key in address_keys:
            await session.execute(
                update(LoginAttempts)
                .where(LoginAttempts.key == key, LoginAttempts.attempts > 0)
                .values(attempts=LoginAttempts.attempts - 1)
                .execution_options(synchronize_session=False)
            )

    async def delete_expired(self, session: AsyncSession, *, now: datetime) -> int:
        """Forget counters whose window is over; how many."""
        deleted = cast(
            CursorResult[tuple[()]],
            await session.execute(
                delete(LoginAttempts)
                .where(LoginAttempts.window_started_at <= now - self.window)
                .execution_options(synchronize_session=False)
            ),
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
            raise RuntimeError(f"login throttling needs Postgres or SQLite, not {dialect}")
        window_is_over = LoginAttempts.window_started_at <= now - self.window
        statement = (
            insert(LoginAttempts)
            .values(key=key, attempts=1, window_started_at=now)
            .on_conflict_do_update(
                index_elements=[LoginAttempts.key],
                set_={
                    "attempts": case((window_is_over, 1), else_=LoginAttempts.attempts + 1),
                    "window_started_at": case(
                        (window_is_over, literal(now, UTCDateTime)),
                        else_=LoginAttempts.window_started_at,
                    ),
                },
            )
            .returning(LoginAttempts.attempts, LoginAttempts.window_started_at)
        )
        attempts, window_started_at = (await session.execute(statement)).one()
        return attempts, window_started_at
