"""Password hashing with argon2id, run in a bounded thread pool off the event loop."""

from __future__ import annotations

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from auth_service.config import AuthSettings


def password_hasher(settings: AuthSettings) -> PasswordHasher:
    """argon2id with the configured cost."""
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )


class Passwords:
    """Hashes and verifies passwords without stalling the event loop.

    At most `concurrency` hashes run at once: each needs ~64 MiB and tens of milliseconds,
    so a burst of logins queues here instead of exhausting memory and CPU.
    """

    def __init__(self, hasher: PasswordHasher, concurrency: int) -> None:
        self._hasher = hasher
        self._limiter = anyio.CapacityLimiter(concurrency)
        # Verified against when the account does not exist, so that both cases take as long.
        self._decoy_hash = self._hasher.hash("decoy password for unknown accounts")

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> Passwords:
        return cls(password_hasher(settings), settings.password_hashing_concurrency)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password, limiter=self._limiter)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(password_hash)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash (unknown account) it still spends the time."""
        return await anyio.to_thread.run_sync(
            self._verify_blocking, password_hash, password, limiter=self._limiter
        )

    def _verify_blocking(self, password_hash: str | None, password: str) -> bool:
        try:
            is_match = self._hasher.verify(password_hash or self._decoy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return is_match and password_hash is not None
