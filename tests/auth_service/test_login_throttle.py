from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from auth_service.app import create_app
from auth_service.config import AuthSettings
from auth_service.housekeeping import delete_expired_records
from auth_service.login_throttle import LoginThrottle
from auth_service.models import LoginAttempts
from tests.auth_service.conftest import auth_app_client, register, request_token
from tests.support.apps import served
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
    assert 590 <= int(response.headers["retry-after"]) <= 600


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


async def test_ipv6_clients_of_one_subscriber_network_share_an_address_budget(
    throttled_settings: AuthSettings,
) -> None:
    async with served(create_app(throttled_settings)) as (app, _):

        def client_at(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 4711))
            return httpx.AsyncClient(transport=transport, base_url="http://auth.test")

        for number in range(5):
            async with client_at(f"2001:db8:1:2::{number + 1}") as client:
                await fail(client, 1, f"guess{number}@example.com")

        async with client_at("2001:db8:1:2:ffff::1") as same_network:
            throttled = await request_token(same_network, "x@example.com", WRONG)
        async with client_at("2001:db8:1:3::1") as other_network:
            allowed = await request_token(other_network, "y@example.com", WRONG)

    assert throttled.status_code == 429
    assert allowed.status_code == 400


async def test_housekeeping_forgets_counters_whose_window_is_over(
    client: httpx.AsyncClient, throttled_settings: AuthSettings, auth_database_url: str
) -> None:
    await fail(client, 1)
    await fail(client, 1, "other@example.com")
    async with session_on(auth_database_url) as session, session.begin():
        await session.execute(
            update(LoginAttempts)
            .where(LoginAttempts.attempts == 1)
            .values(window_started_at=datetime.now(UTC) - timedelta(seconds=601))
        )

    async with session_on(auth_database_url) as session:
        sessionmaker = async_sessionmaker(session.bind, expire_on_commit=False)
        await delete_expired_records(
            sessionmaker,
            [LoginThrottle.from_settings(throttled_settings).counters],
            batch_size=throttled_settings.housekeeping_batch_size,
        )

        # The address counted both failures, so only its counter is still in its window.
        assert (await session.scalars(select(LoginAttempts.attempts))).all() == [2]
