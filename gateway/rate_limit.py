"""Rate limiting: a token bucket per user, or per client address when anonymous.

A bucket holds up to `rate_limit_burst` tokens and gains `rate_limit_per_second` of them every
second; a request takes one, or is refused (429) while less than one is left. The buckets live
in the process's memory unless `redis_url` is set; in Redis every gateway replica spends from
the same bucket.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.config import GatewaySettings
from shared.tracing import Tracing

logger = logging.getLogger(__name__)

Clock = Callable[[], float]

# Buckets kept in memory at most (some 30 MB); past it the least recently used one goes. A
# forgotten bucket comes back full, and the least recently used has had the longest to refill.
MAX_BUCKETS_IN_MEMORY = 100_000

# Every gateway key in Redis is namespaced: `gateway:ratelimit:user:<id>`, `…:address:<ip>`.
KEY_PREFIX = "gateway:ratelimit:"

# Redis answers in well under a millisecond; one that has not answered in this long is down,
# and waiting longer would stall every request behind it. One immediate retry covers a pooled
# connection that Redis closed (a restart), inside the same deadline.
REDIS_TIMEOUT_SECONDS = 0.25
_REDIS_DEADLINE_SECONDS = 2 * REDIS_TIMEOUT_SECONDS
# After a failure the local buckets serve alone this long before Redis is tried again, so that
# a dead Redis costs one timeout per second, not one per request.
_REDIS_RETRY_SECONDS = 1.0
# While Redis stays away it is reported at most this often, not once per request.
_WARNING_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class Decision:
    """The outcome of one request against its bucket."""

    is_allowed: bool
    # The bucket's size (the burst), and whole tokens left after this request.
    limit: int
    remaining: int
    # Seconds until the bucket is full again, and until the next request would pass (0 while
    # a token is left; at least 1 when none is).
    reset_seconds: int
    retry_after_seconds: int


class RateLimiter(Protocol):
    async def acquire(self, key: str) -> Decision: ...


def _whole_seconds(seconds: float) -> int:
    """Rounded up, less a hair of float error (so that 2.0000000001 stays 2)."""
    return max(0, math.ceil(seconds - 1e-9))


def _decide(tokens: float, is_allowed: bool, rate: float, burst: int) -> Decision:
    """The decision for a bucket left holding `tokens` after this request."""
    return Decision(
        is_allowed=is_allowed,
        limit=burst,
        remaining=math.floor(tokens),
        reset_seconds=_whole_seconds((burst - tokens) / rate),
        retry_after_seconds=0 if tokens >= 1 else max(1, _whole_seconds((1 - tokens) / rate)),
    )


class MemoryRateLimiter:
    """Buckets in this process: exact for one replica, per replica when there are several."""

    def __init__(
        self,
        rate_per_second: float,
        burst: int,
        *,
        max_buckets: int = MAX_BUCKETS_IN_MEMORY,
        clock: Clock = time.monotonic,
    ) -> None:
        self.rate = rate_per_second
        self.burst = burst
        self.max_buckets = max_buckets
        self._clock = clock
        # Key -> (tokens, when they were counted), the least recently used first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    async def acquire(self, key: str) -> Decision:
        return self.take(key)

    def take(self, key: str) -> Decision:
        """Spend a token from `key`'s bucket. Nothing here awaits, so no other request on the
        event loop can come between reading the bucket and writing it back."""
        now = self._clock()
        tokens, counted_at = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - counted_at) * self.rate)
        is_allowed = tokens >= 1
        if is_allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        return _decide(tokens, is_allowed, self.rate, self.burst)


# One request against one bucket, atomically (a script runs alone) and in one round trip.
# The clock is Redis's own, not the callers': replicas whose clocks disagree still agree on
# the bucket. The bucket is a hash {tokens, counted_at}; once it would be full again it is the
# same as no bucket, so it expires then. Lua numbers turn into integers in a reply, so the
# tokens travel back as a string; %.17g keeps every digit of a double.
_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'counted_at')
local tokens = tonumber(bucket[1]) or burst
local counted_at = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - counted_at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
local remaining = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 'tokens', remaining, 'counted_at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, remaining}
"""


class RedisRateLimiter:
    """Buckets in Redis, shared by every replica.

    When Redis cannot be reached the limiter fails open, to this replica's own in-memory
    buckets: requests keep flowing (never a 500, never a wait past the deadline) and are
    still limited, per replica, until Redis answers again.
    """

    def __init__(
        self,
        redis: Redis,
        rate_per_second: float,
        burst: int,
        *,
        key_prefix: str = KEY_PREFIX,
        clock: Clock = time.monotonic,
    ) -> None:
        self.rate = rate_per_second
        self.burst = burst
        self.key_prefix = key_prefix
        self._script = redis.register_script(_BUCKET_SCRIPT)
        self._clock = clock
        self._fallback = MemoryRateLimiter(rate_per_second, burst, clock=clock)
        self._redis_retry_at = -math.inf
        self._warned_at = -math.inf
        self._is_failing = False

    async def acquire(self, key: str) -> Decision:
        if self._clock() < self._redis_retry_at:
            return self._fallback.take(key)
        try:
            async with asyncio.timeout(_REDIS_DEADLINE_SECONDS):
                is_allowed, tokens = await self._script(
                    keys=[self.key_prefix + key], args=[self.rate, self.burst]
                )
        except (RedisError, OSError) as error:  # OSError: TimeoutError is one
            self._record_failure(error)
            return self._fallback.take(key)
        if self._is_failing:
            self._is_failing = False
            logger.info("rate_limit_redis_recovered")
        return _decide(float(tokens), bool(is_allowed), self.rate, self.burst)

    def _record_failure(self, error: Exception) -> None:
        now = self._clock()
        self._is_failing = True
        self._redis_retry_at = now + _REDIS_RETRY_SECONDS
        if now - self._warned_at >= _WARNING_INTERVAL_SECONDS:
            self._warned_at = now
            logger.warning(
                "rate_limit_redis_unavailable",
                extra={"error": repr(error), "fallback": "per-replica in-memory buckets"},
            )


def connect_redis(url: str) -> Redis:
    """A pooled client that gives up quickly: connecting happens on first use, not here."""
    return Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        # redis-py's default retries ten times with backoff: seconds on a dead Redis.
        retry=Retry(NoBackoff(), retries=1),
    )


@asynccontextmanager
async def open_rate_limiter(
    settings: GatewaySettings, *, key_prefix: str = KEY_PREFIX, tracing: Tracing | None = None
) -> AsyncIterator[RateLimiter]:
    """The limiter the settings ask for; its Redis connections are closed at exit. While
    tracing is on, every Redis command is a span (its arguments shown as `?`)."""
    rate, burst = settings.rate_limit_per_second, settings.rate_limit_burst
    if settings.redis_url is None:
        yield MemoryRateLimiter(rate, burst)
        return
    redis = connect_redis(settings.redis_url)
    if tracing is not None:
        # Imported here: the instrumentation adds over a MiB to a process that does not trace.
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor.instrument_client(redis, tracer_provider=tracing.provider)
    try:
        yield RedisRateLimiter(redis, rate, burst, key_prefix=key_prefix)
    finally:
        await redis.aclose()


# The fields of the IETF draft "RateLimit header fields for HTTP"
# (draft-ietf-httpapi-ratelimit-headers-11), both Lists of Structured Fields (RFC 9651):
#   RateLimit-Policy (§3): "default";q=<quota>;w=<window, seconds>
#   RateLimit (§4):        "default";r=<available quota>;t=<effective window, seconds>
_POLICY = "default"


def rate_limit_headers(decision: Decision, settings: GatewaySettings) -> list[tuple[bytes, bytes]]:
    """`RateLimit-Policy` and `RateLimit` (IETF draft), for every rate-limited response."""
    # The quota is the burst, over the time the bucket takes to refill from empty: their
    # ratio is the sustained rate. `w` must be a positive integer (§3.1.3), so it rounds up.
    window = max(1, _whole_seconds(decision.limit / settings.rate_limit_per_second))
    # `t` is the time until the bucket is full again; while it is empty, the time until the
    # next token instead, so that "none left within t" holds and a 429's Retry-After is not
    # earlier than the window's end (§6).
    effective_window = (
        decision.retry_after_seconds if decision.remaining == 0 else decision.reset_seconds
    )
    return [
        (b"ratelimit-policy", f'"{_POLICY}";q={decision.limit};w={window}'.encode()),
        (b"ratelimit", f'"{_POLICY}";r={decision.remaining};t={effective_window}'.encode()),
    ]
