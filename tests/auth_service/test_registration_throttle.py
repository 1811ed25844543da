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
from auth_service.models import RegistrationAttempts, User
from auth_service.passwords import Priority
from auth_service.registration_throttle import RegistrationThrottle
from tests.auth_service.conftest import auth_app_client, register
from tests.auth_service.held_hasher import serving_held_passwords
from tests.support.apps import app_client, served
from tests.support.database import session_on
from tests.support.servers import eventually, running_server

BUDGET = 3


@pytest.fixture
def throttled_settings(auth_settings: AuthSettings) -> AuthSettings:
    return auth_settings.model_copy(
        update={"registration_max_per_address": BUDGET, "registration_window_seconds": 600}
    )


@pytest.fixture
async def client(throttled_settings: AuthSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with auth_app_client(throttled_settings) as client:
        yield client


async def spend_budget(client: httpx.AsyncClient, prefix: str = "new") -> None:
    for number in range(BUDGET):
        response = await register(client, f"{prefix}{number}@example.com")
        assert response.status_code == 201, response.text


async def user_count(database_url: str) -> int:
    async with session_on(database_url) as session:
        return len((await session.scalars(select(User.id))).all())


async def test_registrations_over_the_budget_get_429_with_retry_after(
    client: httpx.AsyncClient, auth_database_url: str
) -> None:
    await spend_budget(client)

    response = await register(client, "one-more@example.com")

    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/too-many-registrations"
    assert 590 <= int(response.headers["retry-after"]) <= 600
    assert await user_count(auth_database_url) == BUDGET


async def test_registrations_of_a_taken_email_spend_the_budget_too(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "taken@example.com")
    for _ in range(BUDGET - 1):
        assert (await register(client, "taken@example.com")).status_code == 409

    assert (await register(client, "free@example.com")).status_code == 429


async def test_a_throttled_registration_does_not_tell_whether_the_email_is_taken(
    client: httpx.AsyncClient,
) -> None:
    await spend_budget(client)

    taken = await register(client, "new0@example.com")
    free = await register(client, "free@example.com")

    assert taken.status_code == free.status_code == 429
    assert taken.json()["detail"] == free.json()["detail"]


async def test_the_budget_is_per_client_address(throttled_settings: AuthSettings) -> None:
    async with served(create_app(throttled_settings)) as (app, _):

        def client_at(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 4711))
            return httpx.AsyncClient(transport=transport, base_url="http://auth.test")

        async with client_at("198.51.100.1") as flooding:
            await spend_budget(flooding)
            refused = await register(flooding, "refused@example.com")
        async with client_at("198.51.100.2") as other:
            allowed = await register(other, "allowed@example.com")
        async with client_at("2001:db8:1:2::1") as ipv6:
            await spend_budget(ipv6, "v6-")
        async with client_at("2001:db8:1:2:ffff::1") as same_network:
            refused_in_network = await register(same_network, "same-64@example.com")

    assert refused.status_code == refused_in_network.status_code == 429
    assert allowed.status_code == 201


async def test_the_client_address_is_the_one_a_trusted_proxy_forwards(
    throttled_settings: AuthSettings,
) -> None:
    # Over a real socket from 127.0.0.1, which uvicorn trusts by default, as it would trust
    # the gateway: each client forwarded has a budget of its own.
    with running_server(create_app(throttled_settings), lifespan="on") as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:

            async def register_as(address: str, email: str) -> int:
                response = await client.post(
                    "/auth/register",
                    json={"email": email, "password": "correct horse battery"},
                    headers={"X-Forwarded-For": address},
                )
                return response.status_code

            for number in range(BUDGET):
                assert await register_as("198.51.100.1", f"a{number}@example.com") == 201
            refused = await register_as("198.51.100.1", "a-more@example.com")
            allowed = await register_as("198.51.100.2", "b@example.com")

    assert (refused, allowed) == (429, 201)


async def test_replicas_share_one_budget(
    throttled_settings: AuthSettings, client: httpx.AsyncClient
) -> None:
    await spend_budget(client)

    async with auth_app_client(throttled_settings) as other_replica:
        response = await register(other_replica, "elsewhere@example.com")

    assert response.status_code == 429


async def test_concurrent_registrations_cannot_overrun_the_budget(
    throttled_settings: AuthSettings, client: httpx.AsyncClient, auth_database_url: str
) -> None:
    async with auth_app_client(throttled_settings) as other_replica:
        responses = await asyncio.gather(
            *(
                register(replica, f"burst{number}@example.com")
                for number, replica in enumerate([client, other_replica] * 5)
            )
        )

    assert sorted(response.status_code for response in responses) == [201] * 3 + [429] * 7
    async with session_on(auth_database_url) as session:
        counters = (await session.scalars(select(RegistrationAttempts.attempts))).all()
    assert counters == [BUDGET]  # refused registrations are not counted


async def move_windows_back(database_url: str, seconds: int) -> None:
    async with session_on(database_url) as session, session.begin():
        await session.execute(
            update(RegistrationAttempts).values(
                window_started_at=datetime.now(UTC) - timedelta(seconds=seconds)
            )
        )


async def test_the_budget_opens_again_once_the_window_is_over(
    client: httpx.AsyncClient, auth_database_url: str
) -> None:
    await spend_budget(client)
    await move_windows_back(auth_database_url, 601)

    assert (await register(client, "next-window@example.com")).status_code == 201


async def test_housekeeping_forgets_counters_whose_window_is_over(
    client: httpx.AsyncClient, throttled_settings: AuthSettings, auth_database_url: str
) -> None:
    await register(client)
    await move_windows_back(auth_database_url, 601)

    async with session_on(auth_database_url) as session:
        sessionmaker = async_sessionmaker(session.bind, expire_on_commit=False)
        throttle = RegistrationThrottle.from_settings(throttled_settings)
        await delete_expired_records(
            sessionmaker, [throttle.counters], batch_size=throttled_settings.housekeeping_batch_size
        )

        assert (await session.scalars(select(RegistrationAttempts))).all() == []


async def test_a_registration_that_waits_too_long_for_the_hasher_gets_429(
    auth_settings: AuthSettings,
    auth_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = auth_settings.model_copy(update={"registration_max_hashing_wait_seconds": 0.2})
    _, hasher = serving_held_passwords(monkeypatch, concurrency=1)
    app = create_app(settings)
    async with app_client(app, "http://auth.test") as client:
        hasher.calls.clear()
        hasher.hold()
        hashing = asyncio.create_task(register(client, "first@example.com"))
        await eventually(lambda: len(hasher.calls) == 1, "the first hash", seconds=10)

        refused = await register(client, "second@example.com")
        hasher.stop_holding()
        created = await hashing

    assert refused.status_code == 429
    assert refused.json()["type"] == "/problems/registrations-busy"
    assert refused.headers["retry-after"] == "1"
    assert created.status_code == 201  # a hash under way is not cut short
    assert await user_count(auth_database_url) == 1


async def test_a_registration_that_finds_the_hashers_queue_full_gets_429(
    auth_settings: AuthSettings,
    auth_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = auth_settings.model_copy(
        update={"registration_max_queued": 2, "registration_max_hashing_wait_seconds": 30}
    )
    passwords, hasher = serving_held_passwords(monkeypatch, concurrency=1)
    app = create_app(settings)
    async with app_client(app, "http://auth.test") as client:
        hasher.calls.clear()
        hasher.hold()
        admitted = [
            asyncio.create_task(register(client, f"admitted{number}@example.com"))
            for number in range(3)
        ]
        await eventually(
            lambda: passwords.slots.waiting(Priority.NEW_PASSWORD) == 2, "two queued", seconds=10
        )

        refused = await register(client, "refused@example.com")
        hasher.stop_holding()
        created = await asyncio.gather(*admitted)

    assert refused.status_code == 429
    assert refused.json()["type"] == "/problems/registrations-busy"
    assert [response.status_code for response in created] == [201] * 3
    assert await user_count(auth_database_url) == 3
