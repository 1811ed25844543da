from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from jwt.algorithms import RSAAlgorithm

from auth_service.config import AuthSettings
from auth_service.keys import SigningKey, jwk_thumbprint, load_key_set


async def test_jwks_publishes_the_signing_key_for_caching(
    auth_client: httpx.AsyncClient, signing_key: SigningKey
) -> None:
    response = await auth_client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    [key] = response.json()["keys"]
    assert key["kid"] == signing_key.kid
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert "d" not in key  # never the private part


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # The example key of RFC 7638 §3.1 and the thumbprint the RFC gives for it.
    example = {
        "kty": "RSA",
        "e": "AQAB",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-6"
        "5YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLy"
        "rdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJz"
        "KnqDKgw",
    }
    public_key = RSAAlgorithm.from_jwk(json.dumps(example))

    assert jwk_thumbprint(public_key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # type: ignore[arg-type]


def test_development_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = AuthSettings(development_key_file=tmp_path / "var" / "key.pem")

    first = load_key_set(settings).signing_key
    second = load_key_set(settings).signing_key

    assert first.kid == second.kid
    assert (tmp_path / "var" / "key.pem").stat().st_mode & 0o777 == 0o600


def test_production_refuses_to_start_without_a_key_file(tmp_path: Path) -> None:
    settings = AuthSettings(environment="production", development_key_file=tmp_path / "key.pem")

    with pytest.raises(RuntimeError, match="AUTH_PRIVATE_KEY_FILE"):
        load_key_set(settings)
    assert not (tmp_path / "key.pem").exists()


def test_the_configured_key_file_is_used(key_file: Path, signing_key: SigningKey) -> None:
    settings = AuthSettings(environment="production", private_key_file=key_file)

    assert load_key_set(settings).signing_key.kid == signing_key.kid
