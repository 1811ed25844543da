"""The token buckets alone (a fake clock), through the gateway, and shared in a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.types import ASGIApp

from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.rate_limit import (
    KEY_PREFIX,
    Decision,
    MemoryRateLimiter,
    RedisRateLimiter,
    connect_redis,
    rate_limit_headers,
)
from shared.metrics import ServiceMetrics
from tests.gateway.conftest import EchoUpstream, gateway_client, gateway_settings
from tests.support.apps import CLIENT_ADDRESS, served
from tests.support.servers import free_port
from tests.support.tokens import TokenFactory

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Slow enough that no token comes back while a test runs: outcomes do not depend on timing.
TRICKLE = 0.01


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _limiter(
    burst: int = 3, rate: float = 2.0, **options: Any
) -> tuple[MemoryRateLimiter, FakeClock]:
    clock = FakeClock()
    return MemoryRateLimiter(rate, burst, clock=clock, **options), clock


def _parameters(field: str) -> tuple[str, dict[str, int]]:
    """A one-item structured-field list `"name";a=1;b=2` as its name and integer parameters."""
    name, *parameters = field.split(";")
    return name, {key: int(value) for key, value in (p.split("=") for p in parameters)}


def _bearer(tokens: TokenFactory, user_id: uuid.UUID | None = None) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens.issue(user_id)}"}


# The in-memory bucket, on a fake clock.


def test_a_full_bucket_lets_the_burst_through_then_refuses() -> None:
    limiter, _ = _limiter(burst=3)

    decisions = [limiter.take("k") for _ in range(4)]

    assert [d.is_allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert all(d.limit == 3 for d in decisions)


def test_tokens_come_back_at_the_configured_rate() -> None:
    limiter, clock = _limiter(burst=3, rate=2.0)
    for _ in range(3):
        limiter.take("k")

    clock.advance(0.49)
    assert not limiter.take("k").is_allowed
    clock.advance(0.01)
    assert limiter.take("k").is_allowed
    clock.advance(1.0)
    assert [limiter.take("k").is_allowed for _ in range(3)] == [True, True, False]


def test_an_idle_bucket_never_holds_more_than_the_burst() -> None:
    limiter, clock = _limiter(burst=3)
    limiter.take("k")

    clock.advance(3600)

    assert [limiter.take("k").is_allowed for _ in range(4)] == [True, True, True, False]


def test_retry_after_is_the_wait_for_the_next_token_and_reset_for_a_full_bucket() -> None:
    limiter, clock = _limiter(burst=4, rate=0.5)
    assert limiter.take("k") == Decision(True, 4, 3, reset_seconds=2, retry_after_seconds=0)
    for _ in range(3):
        limiter.take("k")

    clock.advance(0.5)  # a quarter of a token back
    refused = limiter.take("k")

    assert refused == Decision(False, 4, 0, reset_seconds=8, retry_after_seconds=2)


def test_retry_after_is_at_least_one_second() -> None:
    limiter, _ = _limiter(burst=1, rate=1000.0)
    limiter.take("k")

    assert limiter.take("k").retry_after_seconds == 1


def test_buckets_are_kept_apart_by_key() -> None:
    limiter, _ = _limiter(burst=1)

    assert limiter.take("user:a").is_allowed
    assert limiter.take("user:b").is_allowed
    assert not limiter.take("user:a").is_allowed


def test_memory_is_bounded_by_forgetting_the_least_recently_used_bucket() -> None:
    limiter, _ = _limiter(burst=1, max_buckets=2)
    limiter.take("old")
    limiter.take("recent")
    limiter.take("old")  # used again: "recent" is now the least recently used

    limiter.take("new")

    assert len(limiter) == 2
    assert not limiter.take("old").is_allowed  # remembered, still empty
    assert limiter.take("recent").is_allowed  # forgotten, so full again


async def test_concurrent_requests_never_spend_more_than_the_burst() -> None:
    limiter, _ = _limiter(burst=5)

    decisions = await asyncio.gather(*(limiter.acquire("k") for _ in range(50)))

    assert sum(d.is_allowed for d in decisions) == 5


@pytest.mark.parametrize(
    ("decision", "ratelimit"),
    [
        (Decision(True, 40, 39, reset_seconds=1, retry_after_seconds=0), '"default";r=39;t=1'),
        (Decision(True, 40, 0, reset_seconds=2, retry_after_seconds=1), '"default";r=0;t=1'),
        (Decision(False, 40, 0, reset_seconds=2, retry_after_seconds=1), '"default";r=0;t=1'),
    ],
    ids=["tokens left", "last token", "refused"],
)
def test_headers_follow_the_ietf_draft(decision: Decision, ratelimit: str) -> None:
    settings = gateway_settings(rate_limit_burst=40, rate_limit_per_second=20.0)

    headers = dict(rate_limit_headers(decision, settings))

    assert headers == {
        b"ratelimit-policy": b'"default";q=40;w=2',
        b"ratelimit": ratelimit.encode(),
    }


def test_the_policy_window_is_a_whole_second_at_least() -> None:
    settings = gateway_settings(rate_limit_burst=5, rate_limit_per_second=100.0)

    headers = dict(rate_limit_headers(Decision(True, 5, 4, 1, 0), settings))

    assert headers[b"ratelimit-policy"] == b'"default";q=5;w=1'


# Through the gateway, buckets in memory.


@pytest.fixture
def limited_settings(upstream: EchoUpstream, upstream_url: str, jwks_url: str) -> GatewaySettings:
    """A burst of 2, then nothing more for the length of any test."""
    return gateway_settings(
        auth_url=upstream_url,
        orders_url=upstream_url,
        jwks_url=jwks_url,
        rate_limit_burst=2,
        rate_limit_per_second=TRICKLE,
    )


async def test_past_the_burst_the_gateway_answers_429_with_retry_after(
    limited_settings: GatewaySettings, upstream: EchoUpstream, tokens: TokenFactory
) -> None:
    auth = _bearer(tokens)
    async with gateway_client(create_app(limited_settings)) as gateway:
        allowed = [await gateway.get("/orders", headers=auth) for _ in range(2)]
        refused = await gateway.get("/orders", headers=auth)

    assert [response.status_code for response in allowed] == [200, 200]
    assert [_parameters(r.headers["ratelimit"])[1]["r"] for r in allowed] == [1, 0]
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 1 / TRICKLE
    assert _parameters(refused.headers["ratelimit"]) == ('"default"', {"r": 0, "t": retry_after})
    assert _parameters(refused.headers["ratelimit-policy"]) == ('"default"', {"q": 2, "w": 200})
    assert len(upstream.requests) == 2


async def test_each_user_spends_from_a_budget_of_their_own(
    limited_settings: GatewaySettings, tokens: TokenFactory
) -> None:
    first, second = _bearer(tokens), _bearer(tokens)
    async with gateway_client(create_app(limited_settings)) as gateway:
        for _ in range(2):
            await gateway.get("/orders", headers=first)

        assert (await gateway.get("/orders", headers=first)).status_code == 429
        assert (await gateway.get("/orders", headers=second)).status_code == 200


async def test_one_user_has_one_budget_whatever_token_they_hold(
    limited_settings: GatewaySettings, tokens: TokenFactory
) -> None:
    user_id = uuid.uuid4()
    async with gateway_client(create_app(limited_settings)) as gateway:
        for _ in range(2):
            await gateway.get("/orders", headers=_bearer(tokens, user_id))

        refused = await gateway.get("/orders", headers=_bearer(tokens, user_id))

    assert refused.status_code == 429


async def test_anonymous_requests_are_limited_per_client_address(
    limited_settings: GatewaySettings,
) -> None:
    def client_at(app: ASGIApp, address: tuple[str, int]) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=address)
        return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")

    async with (
        served(create_app(limited_settings)) as (app, _),
        client_at(app, CLIENT_ADDRESS) as gateway,
        client_at(app, ("198.51.100.9", 4711)) as other,
    ):
        for _ in range(2):
            await gateway.post("/auth/register", json={})

        assert (await gateway.post("/auth/register", json={})).status_code == 429
        assert (await other.post("/auth/register", json={})).status_code == 200


async def test_refusals_are_counted(
    limited_settings: GatewaySettings, tokens: TokenFactory
) -> None:
    metrics = ServiceMetrics()
    app = create_app(limited_settings, metrics=metrics)
    auth = _bearer(tokens)
    async with gateway_client(app) as gateway:
        for _ in range(5):
            await gateway.get("/orders", headers=auth)

    registry = metrics.registry
    assert registry.get_sample_value("gateway_rate_limited_total") == 3


# Buckets in the real Redis.


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = connect_redis(REDIS_URL)
    try:
        await client.ping()
    except Exception as error:
        await client.aclose()
        pytest.fail(f"No Redis at {REDIS_URL} (set TEST_REDIS_URL): {error!r}", pytrace=False)
    yield client
    await client.aclose()


@pytest.fixture
async def key_prefix(redis: Redis) -> AsyncIterator[str]:
    """A namespace of this test's own, emptied afterwards."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    keys = [key async for key in redis.scan_iter(match=prefix + "*")]
    if keys:
        await redis.delete(*keys)


async def test_a_redis_bucket_lets_the_burst_through_then_refuses(
    redis: Redis, key_prefix: str
) -> None:
    limiter = RedisRateLimiter(redis, TRICKLE, 3, key_prefix=key_prefix)

    decisions = [await limiter.acquire("user:a") for _ in range(4)]

    assert [(d.is_allowed, d.remaining) for d in decisions] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
    ]
    assert 1 <= decisions[-1].retry_after_seconds <= 1 / TRICKLE


async def test_concurrent_requests_never_overspend_a_redis_bucket(
    redis: Redis, key_prefix: str
) -> None:
    limiter = RedisRateLimiter(redis, TRICKLE, 5, key_prefix=key_prefix)

    decisions = await asyncio.gather(*(limiter.acquire("user:a") for _ in range(50)))

    assert sum(d.is_allowed for d in decisions) == 5


async def test_a_redis_bucket_refills_by_the_redis_clock(redis: Redis, key_prefix: str) -> None:
    limiter = RedisRateLimiter(redis, 1.0, 3, key_prefix=key_prefix)
    for _ in range(3):
        await limiter.acquire("user:a")
    # Ten seconds pass, as far as the bucket can tell.
    seconds, microseconds = await redis.time()
    await redis.hset(key_prefix + "user:a", "counted_at", str(seconds + microseconds / 1e6 - 10))

    decision = await limiter.acquire("user:a")

    assert (decision.is_allowed, decision.remaining) == (True, 2)


async def test_a_redis_bucket_is_namespaced_and_expires_once_it_would_be_full(
    redis: Redis, key_prefix: str
) -> None:
    limiter = RedisRateLimiter(redis, 2.0, 10, key_prefix=key_prefix)

    await limiter.acquire("user:a")

    assert await redis.keys(key_prefix + "*") == [f"{key_prefix}user:a".encode()]
    # One token to refill at two a second: half a second, plus a second of margin.
    assert 0 < await redis.pttl(key_prefix + "user:a") <= 1500


def _redis_settings(settings: GatewaySettings, redis_url: str) -> GatewaySettings:
    return settings.model_copy(update={"redis_url": redis_url})


async def test_gateway_replicas_share_one_budget_in_redis(
    limited_settings: GatewaySettings, redis: Redis, tokens: TokenFactory
) -> None:
    settings = _redis_settings(limited_settings, REDIS_URL)
    user_id = uuid.uuid4()
    auth = _bearer(tokens, user_id)
    try:
        async with (
            gateway_client(create_app(settings)) as first,
            gateway_client(create_app(settings)) as second,
        ):
            answers = [
                await first.get("/orders", headers=auth),
                await second.get("/orders", headers=auth),
                await first.get("/orders", headers=auth),
                await second.get("/orders", headers=auth),
            ]
    finally:
        await redis.delete(f"{KEY_PREFIX}user:{user_id}")

    assert [answer.status_code for answer in answers] == [200, 200, 429, 429]
    assert [_parameters(a.headers["ratelimit"])[1]["r"] for a in answers] == [1, 0, 0, 0]


async def test_an_unreachable_redis_fails_open_and_is_reported_once(
    limited_settings: GatewaySettings, tokens: TokenFactory, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _redis_settings(limited_settings, f"redis://127.0.0.1:{free_port()}/0")
    caplog.set_level(logging.WARNING, logger="gateway.rate_limit")
    async with asyncio.timeout(30), gateway_client(create_app(settings)) as gateway:
        answers = [await gateway.get("/orders", headers=_bearer(tokens)) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200] * 4
    warnings = [r for r in caplog.records if r.getMessage() == "rate_limit_redis_unavailable"]
    assert len(warnings) == 1


async def test_without_redis_each_replica_still_limits_on_its_own(
    limited_settings: GatewaySettings, tokens: TokenFactory
) -> None:
    settings = _redis_settings(limited_settings, f"redis://127.0.0.1:{free_port()}/0")
    auth = _bearer(tokens)
    async with asyncio.timeout(5), gateway_client(create_app(settings)) as gateway:
        answers = [await gateway.get("/orders", headers=auth) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]


class SilentRedis:
    """A Redis that accepts connections and never says a word; it counts what it is sent."""

    def __init__(self) -> None:
        self.messages = 0
        self.url = ""

    async def _listen(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            self.messages += 1
        writer.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SilentRedis]:
        server = await asyncio.start_server(self._listen, "127.0.0.1", 0)
        self.url = f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
        async with server:
            yield self


async def test_a_redis_that_never_answers_is_asked_again_only_after_a_pause() -> None:
    clock = FakeClock()
    async with SilentRedis().running() as silent:
        redis = connect_redis(silent.url)
        limiter = RedisRateLimiter(redis, TRICKLE, 2, clock=clock)
        try:
            # Bounded by the limiter's own deadline: Redis never answers.
            async with asyncio.timeout(30):
                first = await limiter.acquire("user:a")
                asked_first = silent.messages
                # Meanwhile the local buckets answer without asking Redis again.
                meanwhile = await limiter.acquire("user:a")
                asked_meanwhile = silent.messages - asked_first
                clock.advance(60)
                await limiter.acquire("user:a")
                asked_later = silent.messages - asked_first
        finally:
            await redis.aclose()

    assert (first.is_allowed, meanwhile.is_allowed) == (True, True)
    assert asked_first > 0
    assert asked_meanwhile == 0
    assert asked_later > 0


async def test_refused_tokens_spend_from_their_addresses_budget(
    limited_settings: GatewaySettings,
) -> None:
    bad = {"authorization": "Bearer not-a-token"}
    async with gateway_client(create_app(limited_settings)) as gateway:
        refused = [await gateway.get("/orders", headers=bad) for _ in range(2)]
        limited = await gateway.get("/orders", headers=bad)
        anonymous = await gateway.post("/auth/register", json={})

    assert [response.status_code for response in refused] == [401, 401]
    assert "ratelimit" in refused[0].headers
    assert limited.status_code == 429
    assert anonymous.status_code == 429  # the same address's budget
