"""The admin is only ever made with a password the operator set: never by promoting an
account that someone may have registered in advance under the admin's email."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from auth_service.admins import AccountExists, create_admin, reset_admin
from auth_service.app import create_app
from auth_service.config import AuthSettings
from auth_service.models import RefreshTokenFamily, User
from shared.database import utc_now
from tests.auth_service.conftest import (
    PASSWORD,
    auth_app_client,
    refresh,
    register,
    request_token,
)
from tests.auth_service.held_hasher import held_passwords, serving_held_passwords
from tests.support.apps import app_client
from tests.support.database import session_on
from tests.support.servers import eventually

ADMIN_EMAIL = "root@example.com"
ATTACKERS_PASSWORD = "the attacker's own password"
COMMAND_TIMEOUT_SECONDS = 60


async def role_of(database_url: str, email: str = ADMIN_EMAIL) -> str | None:
    async with session_on(database_url) as session:
        return await session.scalar(select(User.role).where(User.email == email))


async def live_sign_ins(database_url: str, email: str = ADMIN_EMAIL) -> int:
    async with session_on(database_url) as session:
        families = await session.scalars(
            select(RefreshTokenFamily.id)
            .join(User)
            .where(User.email == email, RefreshTokenFamily.revoked_at.is_(None))
        )
        return len(families.all())


async def role_in_token(client: httpx.AsyncClient, password: str) -> str:
    """Sign in as the admin's email with `password`: the role the access token grants."""
    response = await request_token(client, ADMIN_EMAIL, password)
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    role: str = me.json()["role"]
    return role


async def register_in_advance(client: httpx.AsyncClient) -> None:
    """What the attacker does before the operator makes the admin."""
    assert (await register(client, ADMIN_EMAIL, ATTACKERS_PASSWORD)).status_code == 201


def with_admin(settings: AuthSettings, password: str = PASSWORD) -> AuthSettings:
    return settings.model_copy(
        update={"admin_email": ADMIN_EMAIL, "admin_password": SecretStr(password)}
    )


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


@dataclass(frozen=True)
class Finished:
    exit_code: int | None
    stdout: str
    stderr: str


async def create_admin_command(database_url: str, *args: str) -> Finished:
    """`python -m auth_service create-admin --email root@example.com <args>`, as an operator."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("AUTH_")
    }
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "auth_service",
        "create-admin",
        "--email",
        ADMIN_EMAIL,
        *args,
        env={
            **environment,
            "AUTH_DATABASE_URL": database_url,
            # The suite's cheap argon2id parameters, as its apps use.
            "AUTH_PASSWORD_HASH_TIME_COST": "1",
            "AUTH_PASSWORD_HASH_MEMORY_KIB": "1024",
            "AUTH_PASSWORD_HASH_PARALLELISM": "1",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(command.communicate(), COMMAND_TIMEOUT_SECONDS)
    return Finished(command.returncode, stdout.decode(), stderr.decode())


# The start-up bootstrap (AUTH_ADMIN_EMAIL / AUTH_ADMIN_PASSWORD): it only ever creates.


async def test_bootstrap_creates_the_admin_at_start_up(
    auth_settings: AuthSettings, auth_database_url: str
) -> None:
    async with auth_app_client(with_admin(auth_settings)) as client:
        assert await role_in_token(client, PASSWORD) == "admin"

    assert await role_of(auth_database_url) == "admin"


async def test_bootstrap_never_promotes_an_account_registered_in_advance(
    auth_client: httpx.AsyncClient,
    auth_settings: AuthSettings,
    auth_database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await register_in_advance(auth_client)

    with caplog.at_level(logging.INFO, logger="auth_service"):
        async with auth_app_client(with_admin(auth_settings)) as client:
            attackers_role = await role_in_token(client, ATTACKERS_PASSWORD)
            operators_sign_in = await request_token(client, ADMIN_EMAIL, PASSWORD)

    assert attackers_role == "user"
    assert operators_sign_in.status_code == 400
    assert await role_of(auth_database_url) == "user"
    [error] = errors_logged(caplog)
    assert error.getMessage() == "admin_bootstrap_refused"
    assert "create-admin --email <AUTH_ADMIN_EMAIL> --reset-password" in error.__dict__["detail"]


async def test_bootstrap_leaves_an_existing_admin_and_its_password_alone(
    auth_settings: AuthSettings, caplog: pytest.LogCaptureFixture
) -> None:
    async with auth_app_client(with_admin(auth_settings)):
        pass

    with caplog.at_level(logging.INFO, logger="auth_service"):
        async with auth_app_client(with_admin(auth_settings, "another password")) as client:
            with_first_password = await request_token(client, ADMIN_EMAIL, PASSWORD)
            with_second_password = await request_token(client, ADMIN_EMAIL, "another password")

    assert (with_first_password.status_code, with_second_password.status_code) == (200, 400)
    assert errors_logged(caplog) == []
    assert "admin_exists" in [record.getMessage() for record in caplog.records]


async def test_replicas_bootstrapping_at_once_make_one_admin_and_log_no_error(
    auth_settings: AuthSettings, auth_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def start_replica() -> int:
        async with auth_app_client(with_admin(auth_settings)) as client:
            return (await request_token(client, ADMIN_EMAIL, PASSWORD)).status_code

    with caplog.at_level(logging.INFO, logger="auth_service"):
        statuses = await asyncio.gather(*(start_replica() for _ in range(3)))

    assert statuses == [200] * 3
    assert errors_logged(caplog) == []
    async with session_on(auth_database_url) as session:
        assert (await session.scalars(select(User.role))).all() == ["admin"]


async def test_admins_created_at_once_one_wins_and_the_other_finds_an_admin(
    auth_database_url: str,
) -> None:
    passwords, hasher = held_passwords(concurrency=3)  # new passwords may take two slots
    hasher.hold()
    async with session_on(auth_database_url) as first, session_on(auth_database_url) as second:
        creations = [
            asyncio.create_task(create_admin(session, passwords, ADMIN_EMAIL, PASSWORD))
            for session in (first, second)
        ]
        # Both looked the email up and found nothing before either inserts.
        await eventually(lambda: len(hasher.calls) == 2, "two hashes", seconds=10)
        hasher.stop_holding()
        outcomes = await asyncio.gather(*creations, return_exceptions=True)

    [refused] = [outcome for outcome in outcomes if isinstance(outcome, AccountExists)]
    assert refused.is_admin


async def test_an_account_registered_while_the_admin_is_created_is_not_promoted(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    passwords, hasher = held_passwords(concurrency=1)
    hasher.hold()
    async with session_on(auth_database_url) as session:
        creation = asyncio.create_task(create_admin(session, passwords, ADMIN_EMAIL, PASSWORD))
        await eventually(lambda: len(hasher.calls) == 1, "the admin's hash", seconds=10)
        await register_in_advance(auth_client)
        hasher.stop_holding()
        with pytest.raises(AccountExists) as refused:
            await creation

    assert not refused.value.is_admin
    assert await role_of(auth_database_url) == "user"


# `python -m auth_service create-admin`: creates, or with --reset-password takes over.


async def test_create_admin_creates_a_new_admin(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    finished = await create_admin_command(auth_database_url, "--password", PASSWORD)

    assert finished.exit_code == 0, finished.stderr
    assert f"{ADMIN_EMAIL} is a new admin" in finished.stdout
    assert await role_in_token(auth_client, PASSWORD) == "admin"


async def test_create_admin_refuses_an_account_registered_in_advance(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    await register_in_advance(auth_client)

    finished = await create_admin_command(auth_database_url, "--password", PASSWORD)

    assert finished.exit_code == 1
    assert "already has an account" in finished.stderr
    assert "was not promoted" in finished.stderr
    assert "run this again with --reset-password" in finished.stderr
    assert await role_of(auth_database_url) == "user"
    assert await role_in_token(auth_client, ATTACKERS_PASSWORD) == "user"
    assert (await request_token(auth_client, ADMIN_EMAIL, PASSWORD)).status_code == 400


async def test_create_admin_leaves_an_existing_admin_as_it_is(
    auth_settings: AuthSettings, auth_database_url: str
) -> None:
    async with auth_app_client(with_admin(auth_settings)):
        pass

    finished = await create_admin_command(auth_database_url, "--password", "another password")

    assert finished.exit_code == 1
    assert "is an admin already" in finished.stderr
    assert "nothing changed" in finished.stderr
    async with auth_app_client(auth_settings) as client:
        assert (await request_token(client, ADMIN_EMAIL, PASSWORD)).status_code == 200


async def test_reset_password_takes_the_account_over_and_ends_its_sessions(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    await register_in_advance(auth_client)
    attackers_sign_in = (await request_token(auth_client, ADMIN_EMAIL, ATTACKERS_PASSWORD)).json()

    finished = await create_admin_command(
        auth_database_url, "--password", PASSWORD, "--reset-password"
    )

    assert finished.exit_code == 0, finished.stderr
    assert "1 sign-in(s) ended" in finished.stdout
    assert "Access tokens issued before stay valid until they expire" in finished.stdout
    assert (await refresh(auth_client, attackers_sign_in["refresh_token"])).status_code == 400
    assert (await request_token(auth_client, ADMIN_EMAIL, ATTACKERS_PASSWORD)).status_code == 400
    assert await role_in_token(auth_client, PASSWORD) == "admin"


async def test_reset_password_of_an_admin_sets_it_and_ends_its_sessions(
    auth_settings: AuthSettings, auth_database_url: str
) -> None:
    async with auth_app_client(with_admin(auth_settings)) as client:
        old_sign_in = (await request_token(client, ADMIN_EMAIL, PASSWORD)).json()

    finished = await create_admin_command(
        auth_database_url, "--password", "the new password", "--reset-password"
    )

    assert finished.exit_code == 0, finished.stderr
    assert await live_sign_ins(auth_database_url) == 0
    async with auth_app_client(auth_settings) as client:
        assert (await refresh(client, old_sign_in["refresh_token"])).status_code == 400
        assert (await request_token(client, ADMIN_EMAIL, PASSWORD)).status_code == 400
        assert await role_in_token(client, "the new password") == "admin"


async def test_reset_password_creates_a_missing_admin(auth_database_url: str) -> None:
    passwords, _ = held_passwords(concurrency=1)
    async with session_on(auth_database_url) as session:
        reset = await reset_admin(session, passwords, ADMIN_EMAIL, PASSWORD, now=utc_now())

    assert (reset.user.role, reset.ended_sign_ins) == ("admin", 0)
    assert await role_of(auth_database_url) == "admin"


async def test_a_sign_in_that_checked_the_old_password_gets_no_session_after_a_reset(
    auth_settings: AuthSettings,
    auth_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, hasher = serving_held_passwords(monkeypatch, concurrency=1)
    app = create_app(auth_settings)
    async with app_client(app, "http://auth.test") as client:
        await register_in_advance(client)
        hasher.calls.clear()
        hasher.hold()
        # The attacker's password is being checked against the hash it was registered with...
        sign_in = asyncio.create_task(request_token(client, ADMIN_EMAIL, ATTACKERS_PASSWORD))
        await eventually(lambda: len(hasher.calls) == 1, "the sign-in's check", seconds=10)
        # ...when the operator resets the account.
        operators, _ = held_passwords(concurrency=1)
        async with session_on(auth_database_url) as session:
            await reset_admin(session, operators, ADMIN_EMAIL, PASSWORD, now=utc_now())
        hasher.stop_holding()
        response = await sign_in

    assert response.status_code == 400
    assert await live_sign_ins(auth_database_url) == 0
