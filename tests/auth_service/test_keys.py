from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from auth_service.__main__ import main as auth_command_line
from auth_service.config import AuthSettings
from auth_service.keys import SigningKey, jwk_thumbprint, load_key_set, signing_key_from_pem
from tests.auth_service.conftest import auth_app_client, pem_of, register, request_token
from tests.support.tokens import TokenFactory, new_signing_key


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


def public_pem_of(key: SigningKey) -> bytes:
    return key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture
def previous_key() -> SigningKey:
    return new_signing_key()


@pytest.fixture
def rotated_settings(
    auth_settings: AuthSettings, tmp_path: Path, previous_key: SigningKey
) -> AuthSettings:
    """After a rotation: the session's key signs, the previous one is still published."""
    previous_file = tmp_path / "previous.pem"
    previous_file.write_bytes(pem_of(previous_key))
    return auth_settings.model_copy(update={"verification_key_files": (previous_file,)})


async def test_the_jwks_publishes_the_signing_key_first_then_the_others(
    rotated_settings: AuthSettings, signing_key: SigningKey, previous_key: SigningKey
) -> None:
    async with auth_app_client(rotated_settings) as client:
        keys = (await client.get("/.well-known/jwks.json")).json()["keys"]

    assert [key["kid"] for key in keys] == [signing_key.kid, previous_key.kid]
    assert all("d" not in key for key in keys)


async def test_new_tokens_are_signed_with_the_signing_key_only(
    rotated_settings: AuthSettings, signing_key: SigningKey
) -> None:
    async with auth_app_client(rotated_settings) as client:
        await register(client)
        token = (await request_token(client)).json()["access_token"]

    assert jwt.get_unverified_header(token)["kid"] == signing_key.kid


async def test_a_token_signed_with_the_previous_key_is_still_accepted(
    rotated_settings: AuthSettings, previous_key: SigningKey
) -> None:
    async with auth_app_client(rotated_settings) as client:
        user_id = (await register(client)).json()["id"]
        old_token = TokenFactory(previous_key).issue(uuid.UUID(user_id))

        response = await client.get("/auth/me", headers={"authorization": f"Bearer {old_token}"})

    assert response.status_code == 200


def test_verification_keys_may_be_public_or_private_pems(
    tmp_path: Path, signing_key: SigningKey, previous_key: SigningKey, key_file: Path
) -> None:
    (tmp_path / "public.pem").write_bytes(public_pem_of(previous_key))
    (tmp_path / "private.pem").write_bytes(pem_of(previous_key))
    settings = AuthSettings(
        private_key_file=key_file,
        verification_key_files=f"{tmp_path / 'public.pem'}, {tmp_path / 'private.pem'}",
    )

    key_set = load_key_set(settings)

    # Read from one comma-separated variable; the same key twice is published once.
    assert [key.kid for key in key_set.verification_keys] == [signing_key.kid, previous_key.kid]


def test_verification_key_files_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AUTH_VERIFICATION_KEY_FILES", f"{tmp_path}/a.pem,{tmp_path}/b.pem")

    assert AuthSettings().verification_key_files == (tmp_path / "a.pem", tmp_path / "b.pem")


async def test_replicas_with_the_same_secret_publish_the_same_keys_and_accept_each_others_tokens(
    rotated_settings: AuthSettings,
) -> None:
    async with (
        auth_app_client(rotated_settings) as first,
        auth_app_client(rotated_settings) as second,
    ):
        await register(first)
        token = (await request_token(first)).json()["access_token"]
        first_jwks = (await first.get("/.well-known/jwks.json")).json()
        second_jwks = (await second.get("/.well-known/jwks.json")).json()
        me = await second.get("/auth/me", headers={"authorization": f"Bearer {token}"})

    assert first_jwks == second_jwks
    assert me.status_code == 200


def run_auth_command(
    *args: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`python -m auth_service ARGS`, in this process: the exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["auth_service", *args])
    try:
        auth_command_line()
        exit_code = 0
    except SystemExit as exit_:
        exit_code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return exit_code, captured.out, captured.err


def test_generate_key_writes_a_new_private_key_for_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    written = tmp_path / "next.pem"

    exit_code, out, err = run_auth_command(
        "generate-key", "--out", str(written), monkeypatch=monkeypatch, capsys=capsys
    )

    assert exit_code == 0, err
    assert written.stat().st_mode & 0o777 == 0o600
    assert signing_key_from_pem(written.read_bytes()).kid in out


def test_generate_key_never_overwrites_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    current = tmp_path / "current.pem"
    current.write_bytes(b"the key in use")

    exit_code, _, err = run_auth_command(
        "generate-key", "--out", str(current), monkeypatch=monkeypatch, capsys=capsys
    )

    assert exit_code != 0
    assert "never overwritten" in err
    assert current.read_bytes() == b"the key in use"
