"""Password hashing in the trace: each argon2id hash and verification a span of the request
it serves (used while tracing is on).

The span is made where the work is done, in the hashing thread (which runs in a copy of the
request's context): a gap before it in the trace is the time the request queued for one.
"""

from __future__ import annotations

from typing import Literal

from argon2 import PasswordHasher
from opentelemetry.trace import Tracer

from shared.trace_ids import is_recording_trace


class TracedPasswordHasher(PasswordHasher):
    tracer: Tracer

    @classmethod
    def like(cls, hasher: PasswordHasher, tracer: Tracer) -> TracedPasswordHasher:
        """A hasher with `hasher`'s parameters, that traces."""
        traced = cls(
            time_cost=hasher.time_cost,
            memory_cost=hasher.memory_cost,
            parallelism=hasher.parallelism,
            hash_len=hasher.hash_len,
            salt_len=hasher.salt_len,
            type=hasher.type,
        )
        traced.tracer = tracer
        return traced

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        if not is_recording_trace():
            return super().hash(password, salt=salt)
        with self.tracer.start_as_current_span("hash password", attributes=self._cost()):
            return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        if not is_recording_trace():
            return super().verify(hash, password)
        # A mismatch raises through the span: a wrong password, not a failure of the service.
        with self.tracer.start_as_current_span(
            "verify password",
            attributes=self._cost(),
            record_exception=False,
            set_status_on_exception=False,
        ):
            return super().verify(hash, password)

    def _cost(self) -> dict[str, int | str]:
        return {
            "argon2.type": self.type.name.lower(),
            "argon2.time_cost": self.time_cost,
            "argon2.memory_kib": self.memory_cost,
            "argon2.parallelism": self.parallelism,
        }
