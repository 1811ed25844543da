"""Registration throttling: a budget of registrations per client address, per window, and
bounds on the registrations waiting for the password hasher.

Every registration counts, whether it creates an account or finds the email taken: both are
what a flood from one address is made of (new accounts, or probes for existing ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.attempt_counters import AttemptCounters, address_key
from auth_service.config import AuthSettings
from auth_service.models import RegistrationAttempts


@dataclass(frozen=True)
class RegistrationThrottle:
    counters: AttemptCounters
    max_per_address: int
    # Beyond what one address may send: registrations from everywhere at once that find
    # this many queued for the password hasher, or wait longer than this, are refused.
    max_queued: int
    max_hashing_wait_seconds: float

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> RegistrationThrottle:
        return cls(
            counters=AttemptCounters(
                RegistrationAttempts, timedelta(seconds=settings.registration_window_seconds)
            ),
            max_per_address=settings.registration_max_per_address,
            max_queued=settings.registration_max_queued,
            max_hashing_wait_seconds=settings.registration_max_hashing_wait_seconds,
        )

    async def spend(self, session: AsyncSession, address: str | None, *, now: datetime) -> None:
        """Count one registration from `address`; raise `Throttled` when it is over budget.

        A request without a client address (a Unix socket) has no budget to count against.
        """
        if address:
            await self.counters.spend(session, address_key(address), self.max_per_address, now=now)
