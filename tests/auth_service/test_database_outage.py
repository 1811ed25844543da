"""A database outage: 503 problems while it lasts, not 500s or hangs; service as usual after.

The service reaches its Postgres through a forwarder that the tests cut, stall and restore.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from auth_service.config import AuthSettings
from tests.auth_service.conftest import auth_app_client, register, request_token, sign_in
from tests.support.tcp_forwarder import TcpForwarder

# Short bounds keep the suite fast (the defaults are 5 s), yet leave the steps that must
# succeed room on a loaded machine: a fresh connection can take a good part of 0.3 s there.
TIMEOUT_SECONDS = 1.0
# No test may take longer than this, whatever happens to the database. A stalled database
# never answers: only the bounds end such a wait before this deadline fails the test.
TEST_DEADLINE_SECONDS = 20


@pytest.fixture
async def forwarder(auth_database_url: str) -> AsyncIterator[TcpForwarder]:
    async with TcpForwarder.in_front_of(auth_database_url) as forwarder:
        yield forwarder


@pytest.fixture
async def client(
    auth_settings: AuthSettings, auth_database_url: str, forwarder: TcpForwarder
) -> AsyncIterator[httpx.AsyncClient]:
    settings = auth_settings.model_copy(
        update=forwarder.settings_through(auth_database_url, TIMEOUT_SECONDS)
    )
    async with auth_app_client(settings) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["status"] == 503


async def test_reads_and_writes_answer_503_problems_while_the_database_is_away(
    client: httpx.AsyncClient, forwarder: TcpForwarder
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        tokens = await sign_in(client, "ada@example.com")
        await forwarder.cut()

        responses = [
            await client.get("/auth/me", headers=bearer(tokens["access_token"])),
            await register(client, "grace@example.com"),
            await request_token(client, "ada@example.com"),
            await client.post(
                "/auth/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            ),
            await client.post("/auth/revoke", data={"token": tokens["refresh_token"]}),
        ]

    for response in responses:
        assert_database_unavailable(response)


async def test_readiness_fails_while_the_database_is_away(
    client: httpx.AsyncClient, forwarder: TcpForwarder
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        assert (await client.get("/health/ready")).status_code == 200
        await forwarder.cut()

        response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] != "ok"


async def test_the_service_recovers_by_itself_when_the_database_returns(
    client: httpx.AsyncClient, forwarder: TcpForwarder
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        tokens = await sign_in(client, "ada@example.com")
        await forwarder.cut()
        assert_database_unavailable(await request_token(client, "ada@example.com"))

        await forwarder.restore()

        me = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200, me.text
        assert (await request_token(client, "ada@example.com")).status_code == 200
        assert (await register(client, "grace@example.com")).status_code == 201
        assert (await client.get("/health/ready")).status_code == 200


async def test_a_hung_database_answers_503_within_the_timeouts_instead_of_hanging(
    client: httpx.AsyncClient, forwarder: TcpForwarder
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        tokens = await sign_in(client, "ada@example.com")
        forwarder.stall()

        # Bounded by the command and connect timeouts: the database never answers.
        response = await client.get("/auth/me", headers=bearer(tokens["access_token"]))

        await forwarder.restore()
        after = await client.get("/auth/me", headers=bearer(tokens["access_token"]))

    assert_database_unavailable(response)
    assert after.status_code == 200, after.text
