from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select

from auth_service.app import create_app
from auth_service.config import AuthSettings
from auth_service.models import User
from tests.auth_service.conftest import PASSWORD, register
from tests.auth_service.held_hasher import serving_held_passwords
from tests.support.apps import app_client
from tests.support.database import session_on


async def test_register_creates_a_user_with_the_user_role(auth_client: httpx.AsyncClient) -> None:
    response = await register(auth_client, "New.User@Example.COM")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "role", "created_at"}
    assert uuid.UUID(body["id"])
    assert body["email"] == "new.user@example.com"
    assert body["role"] == "user"
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None


async def test_the_password_is_stored_only_as_an_argon2id_hash(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    await register(auth_client)

    async with session_on(auth_database_url) as session:
        user = await session.scalar(select(User))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_an_email_is_taken_whatever_its_case(auth_client: httpx.AsyncClient) -> None:
    await register(auth_client, "taken@example.com")

    response = await register(auth_client, "TAKEN@example.com")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/email-taken"


async def test_concurrent_registrations_of_one_email_create_one_account(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    responses = await asyncio.gather(*(register(auth_client, "race@example.com") for _ in range(8)))

    assert sorted(response.status_code for response in responses) == [201] + [409] * 7
    async with session_on(auth_database_url) as session:
        assert len((await session.scalars(select(User))).all()) == 1


async def test_an_address_at_a_test_domain_registers(auth_client: httpx.AsyncClient) -> None:
    # Found by fuzzing: `.test` addresses are email addresses as the document's format says.
    response = await auth_client.post(
        "/auth/register", json={"email": "z@4i.test", "password": PASSWORD}
    )

    assert response.status_code == 201
    assert response.json()["email"] == "z@4i.test"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "Alice <alice@example.com>", "password": PASSWORD},
        {"email": "alice@localhost", "password": PASSWORD},
        {"email": "nul\u0000@example.com", "password": PASSWORD},
        {"email": "short@example.com", "password": "seven77"},
        {"email": "long@example.com", "password": "x" * 129},
        {"email": "no-password@example.com"},
        {"email": "admin@example.com", "password": PASSWORD, "role": "admin"},
    ],
    ids=[
        "email",
        "display-name",
        "special-use-domain",
        "nul-in-email",
        "short-password",
        "long-password",
        "missing-password",
        "role",
    ],
)
async def test_invalid_registrations_are_422_and_create_nothing(
    auth_client: httpx.AsyncClient, auth_database_url: str, body: dict[str, str]
) -> None:
    response = await auth_client.post("/auth/register", json=body)

    assert response.status_code == 422
    assert response.json()["errors"]
    async with session_on(auth_database_url) as session:
        assert (await session.scalars(select(User))).all() == []


async def test_a_taken_email_is_refused_without_hashing_the_password(
    auth_settings: AuthSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, hasher = serving_held_passwords(monkeypatch, concurrency=1)
    app = create_app(auth_settings)
    async with app_client(app, "http://auth.test") as client:
        await register(client, "taken@example.com")
        hasher.calls.clear()

        responses = [await register(client, "Taken@example.com") for _ in range(3)]

    assert [response.status_code for response in responses] == [409] * 3
    assert hasher.calls == []
