from __future__ import annotations

import asyncio
import os
import sys

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from auth_service.config import AuthSettings
from auth_service.models import User
from tests.auth_service.conftest import PASSWORD, auth_app_client, register, request_token
from tests.support.database import session_on


async def _role_of(database_url: str, email: str) -> str | None:
    async with session_on(database_url) as session:
        return await session.scalar(select(User.role).where(User.email == email))


def _with_admin(settings: AuthSettings, email: str, password: str = PASSWORD) -> AuthSettings:
    return settings.model_copy(update={"admin_email": email, "admin_password": SecretStr(password)})


async def test_bootstrap_creates_the_admin_at_start_up(
    auth_settings: AuthSettings, auth_database_url: str
) -> None:
    async with auth_app_client(_with_admin(auth_settings, "root@example.com")) as client:
        response = await request_token(client, "root@example.com")

    assert response.status_code == 200
    assert await _role_of(auth_database_url, "root@example.com") == "admin"


async def test_bootstrap_promotes_an_existing_account_and_keeps_its_password(
    auth_client: httpx.AsyncClient, auth_settings: AuthSettings, auth_database_url: str
) -> None:
    await register(auth_client, "promote@example.com")
    async with auth_app_client(_with_admin(auth_settings, "promote@example.com", "other pass")):
        pass

    assert await _role_of(auth_database_url, "promote@example.com") == "admin"
    assert (await request_token(auth_client, "promote@example.com")).status_code == 200


async def test_create_admin_command_promotes_an_existing_user(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    await register(auth_client, "boss@example.com")

    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "auth_service",
        "create-admin",
        "--email",
        "Boss@example.com",
        "--password",
        PASSWORD,
        env={**os.environ, "AUTH_DATABASE_URL": auth_database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(command.communicate(), timeout=60)

    assert command.returncode == 0, stderr.decode()
    assert "boss@example.com is an admin" in stdout.decode()
    assert await _role_of(auth_database_url, "boss@example.com") == "admin"


async def test_an_admins_token_carries_the_admin_role(auth_settings: AuthSettings) -> None:
    async with auth_app_client(_with_admin(auth_settings, "root@example.com")) as client:
        token = (await request_token(client, "root@example.com")).json()["access_token"]
        me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})

    assert me.json()["role"] == "admin"
