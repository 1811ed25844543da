from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from auth_service.keys import SigningKey
from shared.tokens import Identity, InvalidToken, StaticKeySource, TokenVerifier
from tests.support.tokens import AUDIENCE, ISSUER, TokenFactory, new_signing_key


@pytest.fixture
def verifier(signing_key: SigningKey) -> TokenVerifier:
    return TokenVerifier(
        StaticKeySource({signing_key.kid: signing_key.public_key}),
        issuer=ISSUER,
        audience=AUDIENCE,
        leeway_seconds=30,
    )


async def test_a_valid_token_gives_its_identity(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    user_id = uuid.uuid4()

    identity = await verifier.verify(tokens.issue(user_id, "admin"))

    assert identity == Identity(user_id, "admin")


async def test_an_expired_token_is_refused(verifier: TokenVerifier, tokens: TokenFactory) -> None:
    token = tokens.issue(ttl_seconds=60, now=datetime.now(UTC) - timedelta(minutes=5))

    with pytest.raises(InvalidToken, match="token expired"):
        await verifier.verify(token)


async def test_expiry_within_the_leeway_is_tolerated(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    token = tokens.issue(ttl_seconds=60, now=datetime.now(UTC) - timedelta(seconds=70))

    assert await verifier.verify(token)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "someone-else"}, "wrong audience"),
        ({"iss": "http://evil.test"}, "wrong issuer"),
        ({"exp": None}, "missing claim exp"),
        ({"iat": None}, "missing claim iat"),
        ({"sub": None}, "missing claim sub"),
        ({"aud": None}, "missing claim aud"),
        ({"iss": None}, "missing claim iss"),
        ({"sub": "not-a-uuid"}, "invalid subject"),
        ({"role": "superuser"}, "invalid role"),
        ({"role": None}, "invalid role"),
    ],
)
async def test_tokens_with_bad_claims_are_refused(
    verifier: TokenVerifier, tokens: TokenFactory, claims: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidToken, match=reason):
        await verifier.verify(tokens.issue_with_claims(claims))


async def test_a_token_signed_by_another_key_with_a_known_kid_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    impostor = TokenFactory(
        SigningKey(kid=signing_key.kid, private_key=new_signing_key().private_key)
    )

    with pytest.raises(InvalidToken, match="bad signature"):
        await verifier.verify(impostor.issue())


async def test_a_token_with_an_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(TokenFactory(new_signing_key()).issue())


def _unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


async def test_alg_none_is_refused(verifier: TokenVerifier, signing_key: SigningKey) -> None:
    claims = TokenFactory.claims(role="admin")

    with pytest.raises(InvalidToken, match="unsupported algorithm"):
        await verifier.verify(_unsigned(claims, {"alg": "none", "kid": signing_key.kid}))


async def test_hmac_signed_with_the_public_key_is_refused(
    verifier: TokenVerifier, signing_key: SigningKey
) -> None:
    public_pem = signing_key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = TokenFactory.claims(role="admin")
    # PyJWT itself refuses to sign HMAC with a PEM key, so the token is put together by hand.
    header_and_claims = _unsigned(claims, {"alg": "HS256", "kid": signing_key.kid})[:-1]
    signature = hmac.new(public_pem, header_and_claims.encode(), hashlib.sha256).digest()
    token = header_and_claims + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()

    with pytest.raises(InvalidToken, match="unsupported algorithm"):
        await verifier.verify(token)


@pytest.mark.parametrize("typ", [None, "JWT", "id+jwt"])
async def test_only_tokens_typed_as_access_tokens_are_accepted(
    verifier: TokenVerifier, tokens: TokenFactory, typ: str | None
) -> None:
    with pytest.raises(InvalidToken, match="not an access token"):
        await verifier.verify(tokens.issue_with_claims({}, headers={"typ": typ}))


async def test_the_media_type_form_of_the_access_token_type_is_accepted(
    verifier: TokenVerifier, tokens: TokenFactory
) -> None:
    token = tokens.issue_with_claims({}, headers={"typ": "application/at+jwt"})

    assert await verifier.verify(token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "e30.e30.e30"])
async def test_malformed_tokens_are_refused(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(token)
