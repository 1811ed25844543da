"""A signing key rotation as operators run it, seen from the gateway: the real auth service is
restarted at the same address with each step's keys, the gateway keeps running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
import httpx
import jwt
import pytest

from auth_service.app import create_app as create_auth_app
from auth_service.config import AuthSettings
from auth_service.keys import SigningKey
from gateway.app import create_app as create_gateway_app
from tests.auth_service.conftest import PASSWORD, pem_of
from tests.gateway.conftest import EchoUpstream, gateway_client, gateway_settings
from tests.support.servers import free_port, running_server
from tests.support.tokens import AUDIENCE, ISSUER, new_signing_key


class AuthService:
    """The auth service at one address, started with whichever keys a step of the rotation
    configures."""

    def __init__(self, database_url: str, key_folder: Path) -> None:
        self.database_url = database_url
        self.key_folder = key_folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def key_file(self, key: SigningKey) -> Path:
        path = self.key_folder / f"{key.kid}.pem"
        path.write_bytes(pem_of(key))
        return path

    @asynccontextmanager
    async def running(self, signing: SigningKey, *published: SigningKey) -> AsyncIterator[None]:
        settings = AuthSettings(
            database_url=self.database_url,
            private_key_file=self.key_file(signing),
            verification_key_files=tuple(self.key_file(key) for key in published),
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
            # Verifiers may cache the key set for no time: each step shows at once.
            jwks_max_age_seconds=0,
            password_hash_time_cost=1,
            password_hash_memory_kib=1024,
            password_hash_parallelism=1,
        )
        server = running_server(create_auth_app(settings), lifespan="on", port=self.port)
        # Started and stopped from a worker thread: the gateway's event loop runs on meanwhile,
        # as a deployed gateway's does while its upstream restarts (and sees the old process
        # close its pooled connections).
        await anyio.to_thread.run_sync(server.__enter__)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(server.__exit__, None, None, None)


async def sign_in(gateway: httpx.AsyncClient) -> str:
    response = await gateway.post(
        "/auth/token",
        data={"grant_type": "password", "username": "user@example.com", "password": PASSWORD},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def list_orders(gateway: httpx.AsyncClient, token: str) -> int:
    response = await gateway.get("/orders", headers={"authorization": f"Bearer {token}"})
    return response.status_code


@pytest.fixture
def auth_service(auth_database_url: str, tmp_path: Path) -> AuthService:
    return AuthService(auth_database_url, tmp_path)


async def test_tokens_of_the_previous_key_pass_the_gateway_until_the_key_is_dropped(
    auth_service: AuthService, upstream: EchoUpstream, upstream_url: str
) -> None:
    old_key, new_key = new_signing_key(), new_signing_key()
    settings = gateway_settings(
        auth_url=auth_service.url,
        orders_url=upstream_url,
        jwks_url=f"{auth_service.url}/.well-known/jwks.json",
        jwks_min_refresh_seconds=0,
    )
    async with gateway_client(create_gateway_app(settings)) as gateway:
        async with auth_service.running(old_key):
            await gateway.post(
                "/auth/register", json={"email": "user@example.com", "password": PASSWORD}
            )
            old_token = await sign_in(gateway)
            assert await list_orders(gateway, old_token) == 200

        # Rotated: the new key signs, the old one is still published.
        async with auth_service.running(new_key, old_key):
            new_token = await sign_in(gateway)
            assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid
            assert await list_orders(gateway, new_token) == 200
            assert await list_orders(gateway, old_token) == 200

        # The old key's tokens have expired, so it is dropped.
        async with auth_service.running(new_key):
            assert await list_orders(gateway, new_token) == 200
            # Keys are revalidated in the background: the refusal follows within a request
            # or two (each request waits on the network, so the loop never spins).
            async with asyncio.timeout(5):
                while await list_orders(gateway, old_token) != 401:
                    pass
