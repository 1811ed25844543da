"""Rate limiting: a token bucket per user, or per client address when anonymous.

PLACEHOLDER INTERFACE (to be implemented): in memory by default, Redis when
`GATEWAY_REDIS_URL` is set so that every replica spends from one budget.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from gateway.config import GatewaySettings


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against its bucket."""

    is_allowed: bool
    # The bucket's size (the burst), and whole tokens left after this request.
    limit: int
    remaining: int
    # Seconds until the bucket is full again, and (when refused) until one token is back.
    reset_seconds: int
    retry_after_seconds: int


class RateLimiter(Protocol):
    async def acquire(self, key: str) -> Decision: ...


class _Unlimited:
    async def acquire(self, key: str) -> Decision:
        return Decision(True, 1, 1, 0, 0)


@asynccontextmanager
async def open_rate_limiter(settings: GatewaySettings) -> AsyncIterator[RateLimiter]:
    yield _Unlimited()


def rate_limit_headers(decision: Decision, settings: GatewaySettings) -> list[tuple[bytes, bytes]]:
    """`RateLimit-Policy` and `RateLimit` (IETF draft), for every rate-limited response."""
    return []
