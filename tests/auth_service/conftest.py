"""The auth service under test: its real app on a Postgres database of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from auth_service.app import create_app
from auth_service.config import AuthSettings
from auth_service.keys import SigningKey
from tests.support.apps import app_client
from tests.support.tokens import AUDIENCE, ISSUER

PASSWORD = "correct horse battery"


def pem_of(key: SigningKey) -> bytes:
    return key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def key_file(tmp_path: Path, signing_key: SigningKey) -> Path:
    path = tmp_path / "signing-key.pem"
    path.write_bytes(pem_of(signing_key))
    return path


@pytest.fixture
def auth_settings(auth_database_url: str, key_file: Path) -> AuthSettings:
    return AuthSettings(
        database_url=auth_database_url,
        private_key_file=key_file,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        # Cheap argon2id parameters keep the suite fast; the algorithm is the real one.
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        password_hash_parallelism=1,
    )


def auth_app_client(settings: AuthSettings) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    return app_client(create_app(settings), "http://auth.test")


@pytest.fixture
async def auth_client(auth_settings: AuthSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with auth_app_client(auth_settings) as client:
        yield client


async def register(
    client: httpx.AsyncClient, email: str = "user@example.com", password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/auth/register", json={"email": email, "password": password})


async def request_token(
    client: httpx.AsyncClient, email: str = "user@example.com", password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


async def sign_in(client: httpx.AsyncClient, email: str = "user@example.com") -> dict[str, Any]:
    """Register `email` and sign in: the token response's body."""
    await register(client, email)
    response = await request_token(client, email)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
