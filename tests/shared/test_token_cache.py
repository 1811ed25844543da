from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from auth_service.keys import SigningKey
from shared.token_cache import VerifiedTokenCache
from shared.tokens import InvalidToken, StaticKeySource, TokenVerifier, VerifiedToken
from tests.support.tokens import AUDIENCE, ISSUER, TokenFactory


class CountingVerifier(TokenVerifier):
    """The real verifier, counting the signatures it checks."""

    checked = 0

    async def verify_in_full(self, token: str) -> VerifiedToken:
        self.checked += 1
        return await super().verify_in_full(token)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys(signing_key: SigningKey) -> dict[str, Any]:
    return {signing_key.kid: signing_key.public_key}


@pytest.fixture
def verifier(keys: dict[str, Any]) -> CountingVerifier:
    return CountingVerifier(
        StaticKeySource(keys), issuer=ISSUER, audience=AUDIENCE, leeway_seconds=0
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(verifier: CountingVerifier, clock: Clock) -> VerifiedTokenCache:
    return VerifiedTokenCache(verifier, max_entries=2, clock=clock)


async def test_a_token_is_verified_once_then_remembered(
    cache: VerifiedTokenCache, verifier: CountingVerifier, tokens: TokenFactory
) -> None:
    user_id = uuid.uuid4()
    token = tokens.issue(user_id)

    identities = [await cache.verify(token) for _ in range(3)]

    assert {identity.user_id for identity in identities} == {user_id}
    assert verifier.checked == 1


async def test_a_token_is_remembered_no_longer_than_its_exp(
    cache: VerifiedTokenCache, verifier: CountingVerifier, clock: Clock, tokens: TokenFactory
) -> None:
    token = tokens.issue(ttl_seconds=60)
    await cache.verify(token)
    clock.now += 59
    await cache.verify(token)
    assert verifier.checked == 1

    clock.now += 2
    await cache.verify(token)  # past its exp for the cache: verified afresh (and so refused
    # by the verifier once the real clock gets there)

    assert verifier.checked == 2


async def test_a_remembered_token_is_refused_once_its_key_is_withdrawn(
    cache: VerifiedTokenCache, keys: dict[str, Any], tokens: TokenFactory
) -> None:
    token = tokens.issue()
    await cache.verify(token)

    keys.clear()

    with pytest.raises(InvalidToken, match="unknown signing key"):
        await cache.verify(token)


async def test_the_least_recently_used_go_first(
    cache: VerifiedTokenCache, verifier: CountingVerifier, tokens: TokenFactory
) -> None:
    first, second, third = (tokens.issue() for _ in range(3))
    for token in (first, second, first, third):  # `second` is now the least recently used
        await cache.verify(token)
    checked = verifier.checked

    await cache.verify(first)
    await cache.verify(second)

    assert verifier.checked == checked + 1  # `first` was still there, `second` was not


async def test_invalid_tokens_are_not_remembered(
    cache: VerifiedTokenCache, tokens: TokenFactory
) -> None:
    token = tokens.issue_with_claims({"aud": "someone-else"})

    for _ in range(2):
        with pytest.raises(InvalidToken):
            await cache.verify(token)
