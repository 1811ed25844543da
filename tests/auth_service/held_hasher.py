"""A password hasher whose work a test can count, and hold until it lets each hash finish."""

from __future__ import annotations

import threading
from typing import Literal

import pytest
from argon2 import PasswordHasher

from auth_service.passwords import Passwords

# Long enough for any loaded machine; a test that forgets to release fails instead of hanging.
HOLD_TIMEOUT_SECONDS = 30


class HeldHasher(PasswordHasher):
    """argon2id with the suite's cheap parameters that records each call as it begins
    (`calls`: "hash <password>" or "verify <password>"); after `hold()`, every call waits
    for a `release()` of its own before it computes anything."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self._is_holding = False
        self._releases = threading.Semaphore(0)

    def hold(self) -> None:
        self._is_holding = True

    def release(self, count: int = 1) -> None:
        self._releases.release(count)

    def stop_holding(self) -> None:
        """Let the calls waiting now, and all that come later, go on."""
        self._is_holding = False
        self._releases.release(1000)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._begin(f"hash {password!s}")
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self._begin(f"verify {password!s}")
        return super().verify(hash, password)

    def _begin(self, call: str) -> None:
        with self._lock:
            self.calls.append(call)
        if self._is_holding and not self._releases.acquire(timeout=HOLD_TIMEOUT_SECONDS):
            raise TimeoutError(f"{call} was held and never released")


def held_passwords(concurrency: int) -> tuple[Passwords, HeldHasher]:
    """A password pool of `concurrency` slots over a hasher the test controls."""
    hasher = HeldHasher()
    passwords = Passwords(hasher, concurrency)
    hasher.calls.clear()  # the pool's decoy hash is not a call under test
    return passwords, hasher


def serving_held_passwords(
    monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> tuple[Passwords, HeldHasher]:
    """`held_passwords`, which the auth service's apps created from now on hash with."""
    passwords, hasher = held_passwords(concurrency)
    monkeypatch.setattr(Passwords, "from_settings", lambda *_: passwords)
    return passwords, hasher
