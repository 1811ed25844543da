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
# succeed room on a loaded machine, and are long enough that a wait on top of a timeout
# (closing a broken connection politely takes up to 2 s more) would show.
TIMEOUT_SECONDS = 1.0
# A request that hangs on the database is answered at most this long after its timeout: the
# README's half a second, with room for a loaded test machine, and still well below the 2 s
# that closing a broken connection politely used to add.
GRACE_SECONDS = 1.0
# Once the database answers again, requests succeed within this long (it used to take ~7 s).
RECOVERY_SECONDS = 2.0
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


async def test_a_hung_database_answers_503_within_the_command_timeout(
    client: httpx.AsyncClient, forwarder: TcpForwarder
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        tokens = await sign_in(client, "ada@example.com")
        forwarder.stall()

    async with asyncio.timeout(TIMEOUT_SECONDS + GRACE_SECONDS):
        response = await client.get("/auth/me", headers=bearer(tokens["access_token"]))

    assert_database_unavailable(response)


async def test_the_service_serves_again_soon_after_a_hung_database_answers(
    client: httpx.AsyncClient, forwarder: TcpForwarder
) -> None:
    async with asyncio.timeout(TEST_DEADLINE_SECONDS):
        tokens = await sign_in(client, "ada@example.com")
        forwarder.stall()
        assert_database_unavailable(
            await client.get("/auth/me", headers=bearer(tokens["access_token"]))
        )

    await forwarder.restore()

    async with asyncio.timeout(RECOVERY_SECONDS):
        me = await client.get("/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
