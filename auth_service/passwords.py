"""Password hashing with argon2id, run in a bounded thread pool off the event loop."""

from __future__ import annotations

import os
from enum import IntEnum

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from auth_service.config import AuthSettings
from auth_service.password_spans import TracedPasswordHasher
from auth_service.priority_limiter import PriorityLimiter
from shared.tracing import Tracing


def password_hasher(settings: AuthSettings) -> PasswordHasher:
    """argon2id with the configured cost."""
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, which a container's cpuset narrows."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def hashing_concurrency(settings: AuthSettings, cores: int) -> int:
    """How many hashes run at once: as configured, else as many as the memory budget holds,
    at most one per core.

    One hash already keeps more than a core busy (its lanes run in threads of their own), so
    hashes beyond the cores add no throughput (measured on 2 cores: 10 hashes/s one at a
    time, 13 two at a time, 12 four at a time), only memory and every queued login's wait.
    """
    if settings.password_hashing_concurrency is not None:
        return settings.password_hashing_concurrency
    budget_kib = settings.password_hashing_memory_budget_mib * 1024
    return max(1, min(budget_kib // settings.password_hash_memory_kib, cores))


class Priority(IntEnum):
    """Whose hash goes first when every slot of the pool is busy."""

    SIGN_IN = 0  # someone who has an account is waiting to use it
    NEW_PASSWORD = 1  # a registration (or an admin's set-up): anyone may ask for many


class HasherBusy(Exception):
    """No hashing slot came free within the wait allowed."""


class Passwords:
    """Hashes and verifies passwords without stalling the event loop.

    At most `concurrency` hashes run at once: each holds its argon2id memory (64 MiB by
    default) and ~150 ms of CPU, so a burst of logins queues here instead of exhausting
    memory and CPU. Sign-ins go first, and new passwords may hold every slot but one (when
    there are two or more): under a flood of registrations a sign-in waits at most for the
    hashes already running, and with two slots or more for none.
    """

    def __init__(self, hasher: PasswordHasher, concurrency: int) -> None:
        self._hasher = hasher
        self.concurrency = concurrency
        self.slots = PriorityLimiter(
            concurrency, shares={Priority.NEW_PASSWORD: max(1, concurrency - 1)}
        )
        # The threads are limited by the slots already; a limiter of their own keeps them
        # from waiting on anyio's default one, which other work in the process shares.
        self._threads = anyio.CapacityLimiter(concurrency)
        # Verified against when the account does not exist, so that both cases take as long.
        self._decoy_hash = self._hasher.hash("decoy password for unknown accounts")

    @classmethod
    def from_settings(cls, settings: AuthSettings, tracing: Tracing | None = None) -> Passwords:
        hasher = password_hasher(settings)
        if tracing is not None:
            hasher = TracedPasswordHasher.like(hasher, tracing.tracer(__name__))
        return cls(hasher, hashing_concurrency(settings, usable_cores()))

    async def hash(
        self,
        password: str,
        *,
        priority: Priority,
        max_queued: int | None = None,
        max_wait_seconds: float | None = None,
    ) -> str:
        """The hash of `password`; raises `HasherBusy` when `max_queued` hashes of its
        priority wait already, or when no slot comes free within `max_wait_seconds`."""
        if max_queued is not None and self.slots.waiting(priority) >= max_queued:
            raise HasherBusy
        try:
            async with self.slots.slot(priority, max_wait_seconds=max_wait_seconds):
                return await anyio.to_thread.run_sync(
                    self._hasher.hash, password, limiter=self._threads
                )
        except TimeoutError:
            raise HasherBusy from None

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(password_hash)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether `password` matches; with no hash (unknown account) it still spends the time."""
        async with self.slots.slot(Priority.SIGN_IN):
            return await anyio.to_thread.run_sync(
                self._verify_blocking, password_hash, password, limiter=self._threads
            )

    def _verify_blocking(self, password_hash: str | None, password: str) -> bool:
        try:
            is_match = self._hasher.verify(password_hash or self._decoy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return is_match and password_hash is not None
