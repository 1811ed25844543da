from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from auth_service.config import AuthSettings
from auth_service.models import LoginAttempts
from tests.auth_service.conftest import auth_app_client, register, request_token
from tests.support.database import session_on

WRONG = "not the password"


@pytest.fixture
def throttled_settings(auth_settings: AuthSettings) -> AuthSettings:
    return auth_settings.model_copy(
        update={
            "login_max_attempts_per_account": 3,
            "login_max_attempts_per_address": 5,
            "login_window_seconds": 600,
        }
    )


@pytest.fixture
async def client(throttled_settings: AuthSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with auth_app_client(throttled_settings) as client:
        await register(client)
        yield client


async def fail(client: httpx.AsyncClient, times: int, email: str = "user@example.com") -> None:
    for _ in range(times):
        response = await request_token(client, email, WRONG)
        assert response.status_code == 400, response.text


async def test_repeated_failures_for_an_account_get_429_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    await fail(client, 3)

    response = await request_token(client, password=WRONG)

    assert response.status_code == 429
    assert 590 <= int(response.headers["retry-after"]) <= 600
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "too_many_attempts"


async def test_a_throttled_account_is_refused_even_with_the_right_password(
    client: httpx.AsyncClient,
) -> None:
    await fail(client, 3)

    assert (await request_token(client)).status_code == 429


async def test_an_unknown_email_is_throttled_like_an_account(client: httpx.AsyncClient) -> None:
    await fail(client, 3, "nobody@example.com")

    response = await request_token(client, "nobody@example.com", WRONG)

    assert response.status_code == 429  # the same answer as for an existing account


async def test_the_account_budget_ignores_the_case_of_the_email(
    client: httpx.AsyncClient,
) -> None:
    await fail(client, 3, "USER@example.com")

    assert (await request_token(client, "user@Example.COM")).status_code == 429


async def test_a_successful_login_clears_the_accounts_failures(
    client: httpx.AsyncClient,
) -> None:
    await fail(client, 2)
    assert (await request_token(client)).status_code == 200

    await fail(client, 2)

    assert (await request_token(client)).status_code == 200


async def test_other_accounts_are_not_throttled_by_one(client: httpx.AsyncClient) -> None:
    await register(client, "other@example.com")
    await fail(client, 3)

    assert (await request_token(client, "other@example.com")).status_code == 200


async def test_failures_across_accounts_from_one_address_get_429(
    client: httpx.AsyncClient,
) -> None:
    for number in range(5):
        await fail(client, 1, f"guess{number}@example.com")

    response = await request_token(client, "another@example.com", WRONG)

    assert response.status_code == 429
    assert "retry-after" in response.headers


async def test_the_budget_opens_again_once_the_window_is_over(
    client: httpx.AsyncClient, auth_database_url: str
) -> None:
    await fail(client, 3)
    async with session_on(auth_database_url) as session, session.begin():
        await session.execute(
            update(LoginAttempts).values(
                window_started_at=datetime.now(UTC) - timedelta(seconds=601)
            )
        )

    assert (await request_token(client)).status_code == 200


async def test_replicas_share_one_budget(
    throttled_settings: AuthSettings, client: httpx.AsyncClient
) -> None:
    await fail(client, 3)

    async with auth_app_client(throttled_settings) as other_replica:
        response = await request_token(other_replica, password=WRONG)

    assert response.status_code == 429


async def test_concurrent_guesses_cannot_overrun_the_budget(
    throttled_settings: AuthSettings, client: httpx.AsyncClient, auth_database_url: str
) -> None:
    async with auth_app_client(throttled_settings) as other_replica:
        responses = await asyncio.gather(
            *(request_token(replica, password=WRONG) for replica in [client, other_replica] * 10)
        )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [400] * 3 + [429] * 17
    async with session_on(auth_database_url) as session:
        counters = (await session.scalars(select(LoginAttempts.attempts))).all()
    assert sorted(counters) == [3, 3]  # the account and the address: refused tries not counted
