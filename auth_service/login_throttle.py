"""Sign-in throttling: a budget of attempts per account and per client address, per window.

An attempt is counted before its password is checked; a successful sign-in gives its
attempt back (and clears the account's count).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.attempt_counters import AttemptCounters, address_key, counter_key
from auth_service.config import AuthSettings
from auth_service.models import LoginAttempts
from auth_service.users import normalize_email


@dataclass(frozen=True)
class LoginThrottle:
    counters: AttemptCounters
    max_attempts_per_account: int
    max_attempts_per_address: int

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> LoginThrottle:
        return cls(
            counters=AttemptCounters(
                LoginAttempts, timedelta(seconds=settings.login_window_seconds)
            ),
            max_attempts_per_account=settings.login_max_attempts_per_account,
            max_attempts_per_address=settings.login_max_attempts_per_address,
        )

    def _budgets(self, email: str, address: str | None) -> list[tuple[str, int]]:
        budgets = [(counter_key("account", normalize_email(email)), self.max_attempts_per_account)]
        if address:
            budgets.append((address_key(address), self.max_attempts_per_address))
        return budgets

    async def spend_attempt(
        self, session: AsyncSession, email: str, address: str | None, *, now: datetime
    ) -> None:
        """Count one attempt; raise `Throttled` when it is over either budget."""
        for key, budget in self._budgets(email, address):
            await self.counters.spend(session, key, budget, now=now)

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
