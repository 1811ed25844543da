from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from auth_service.keys import SigningKey
from shared.jwks import JWKSCache, remote_token_verifier
from shared.settings import TokenVerificationSettings
from shared.tokens import VerifiedToken
from tests.support.servers import eventually, running_server
from tests.support.tokens import AUDIENCE, ISSUER, JwksEndpoint, TokenFactory, new_signing_key


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def endpoint(signing_key: SigningKey) -> JwksEndpoint:
    return JwksEndpoint([signing_key])


@pytest.fixture
def endpoint_url(endpoint: JwksEndpoint) -> Iterator[str]:
    with running_server(endpoint.app) as base_url:
        yield f"{base_url}/.well-known/jwks.json"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def cache(
    endpoint: JwksEndpoint, endpoint_url: str, clock: FakeClock
) -> AsyncIterator[JWKSCache]:
    async with httpx.AsyncClient(timeout=10) as client:
        cache = JWKSCache(
            client, endpoint_url, default_ttl_seconds=300, min_refresh_seconds=10, clock=clock
        )
        yield cache
        endpoint.release.set()
        await cache.aclose()


async def test_keys_are_fetched_on_first_use_then_served_from_memory(
    cache: JWKSCache, endpoint: JwksEndpoint, signing_key: SigningKey
) -> None:
    assert not cache.is_loaded

    for _ in range(5):
        assert await cache.key_for(signing_key.kid) is not None

    assert endpoint.hits == 1


async def test_an_unknown_kid_refetches_and_finds_a_rotated_key(
    cache: JWKSCache, endpoint: JwksEndpoint, signing_key: SigningKey, clock: FakeClock
) -> None:
    await cache.key_for(signing_key.kid)
    rotated = new_signing_key()
    endpoint.keys = [rotated, signing_key]
    clock.now += 11

    assert await cache.key_for(rotated.kid) is not None
    assert endpoint.hits == 2


async def test_unknown_kids_refetch_at_most_once_per_interval(
    cache: JWKSCache, endpoint: JwksEndpoint, signing_key: SigningKey
) -> None:
    await cache.key_for(signing_key.kid)

    results = await asyncio.gather(*(cache.key_for(f"random-{n}") for n in range(50)))

    assert results == [None] * 50
    assert endpoint.hits == 1


async def test_concurrent_first_requests_share_one_fetch(
    cache: JWKSCache, endpoint: JwksEndpoint, signing_key: SigningKey
) -> None:
    keys = await asyncio.gather(*(cache.key_for(signing_key.kid) for _ in range(20)))

    assert all(key is not None for key in keys)
    assert endpoint.hits == 1


async def test_keys_are_refreshed_after_max_age(
    cache: JWKSCache, endpoint: JwksEndpoint, signing_key: SigningKey, clock: FakeClock
) -> None:
    endpoint.max_age = 60
    await cache.key_for(signing_key.kid)

    clock.now += 30
    await cache.key_for(signing_key.kid)
    assert endpoint.hits == 1

    clock.now += 31
    await cache.key_for(signing_key.kid)
    await eventually(lambda: endpoint.hits == 2, "the background refresh")


async def test_last_good_keys_keep_serving_while_the_auth_service_fails(
    cache: JWKSCache, endpoint: JwksEndpoint, signing_key: SigningKey, clock: FakeClock
) -> None:
    await cache.key_for(signing_key.kid)
    endpoint.is_failing = True
    clock.now += 301

    assert await cache.key_for(signing_key.kid) is not None
    await eventually(lambda: endpoint.hits == 2, "the background refresh")
    assert await cache.key_for(signing_key.kid) is not None


async def test_a_hanging_auth_service_does_not_hold_up_requests_for_known_keys(
    cache: JWKSCache, endpoint: JwksEndpoint, signing_key: SigningKey, clock: FakeClock
) -> None:
    await cache.key_for(signing_key.kid)
    endpoint.is_hanging = True
    clock.now += 301

    # The refetch hangs until released; requests for the known key answer meanwhile.
    keys = await asyncio.wait_for(
        asyncio.gather(*(cache.key_for(signing_key.kid) for _ in range(10))), timeout=2
    )

    assert all(key is not None for key in keys)
    await eventually(lambda: endpoint.hits == 2, "the background refresh to start")


async def test_readiness_fails_until_keys_can_be_loaded(
    cache: JWKSCache, endpoint: JwksEndpoint, clock: FakeClock
) -> None:
    endpoint.is_failing = True
    with pytest.raises(RuntimeError):
        await cache.ensure_loaded()

    endpoint.is_failing = False
    clock.now += 1
    await cache.ensure_loaded()

    assert cache.is_loaded


async def test_an_unreachable_endpoint_leaves_the_cache_empty_without_raising(
    clock: FakeClock,
) -> None:
    async with httpx.AsyncClient() as client:
        cache = JWKSCache(
            client,
            "http://127.0.0.1:9/jwks.json",
            default_ttl_seconds=300,
            min_refresh_seconds=10,
            clock=clock,
        )
        assert await cache.key_for("any") is None
    assert not cache.is_loaded


async def test_the_remote_verifier_remembers_tokens_until_the_published_keys_change(
    endpoint: JwksEndpoint, endpoint_url: str, tokens: TokenFactory
) -> None:
    settings = TokenVerificationSettings(
        jwks_url=endpoint_url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_min_refresh_seconds=0
    )
    async with remote_token_verifier(settings) as (verifier, jwks):
        signatures_checked = 0
        verify_in_full = verifier.verifier.verify_in_full

        async def counting(token: str) -> VerifiedToken:
            nonlocal signatures_checked
            signatures_checked += 1
            return await verify_in_full(token)

        verifier.verifier.verify_in_full = counting  # type: ignore[method-assign]
        token = tokens.issue()
        await verifier.verify(token)
        await verifier.verify(token)
        assert signatures_checked == 1

        endpoint.keys = [*endpoint.keys, new_signing_key()]  # a new key is published
        await verifier.verify(tokens.issue())  # (its own first check)
        await jwks.key_for("a kid nobody has")  # makes the cache refetch the key set
        await verifier.verify(token)
        assert signatures_checked == 3
