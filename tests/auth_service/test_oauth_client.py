"""An off-the-shelf OAuth 2.0 client (authlib's) drives the whole token life cycle."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator

import httpx
import pytest

from auth_service.app import create_app
from auth_service.config import AuthSettings
from tests.auth_service.conftest import PASSWORD, register
from tests.support.apps import CLIENT_ADDRESS, served

with warnings.catch_warnings():
    # authlib announces, on import, a move of its httpx client to the "httpx2" package, and
    # installs a filter that shows its warnings always: ours has to come after it.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.integrations.httpx_client import OAuthError as ClientOAuthError

BASE_URL = "http://auth.test"


@pytest.fixture
async def oauth_client(
    auth_settings: AuthSettings, auth_client: httpx.AsyncClient
) -> AsyncIterator[AsyncOAuth2Client]:
    """authlib's client for a public client (no secret), with an account to sign in to."""
    await register(auth_client)
    async with (
        served(create_app(auth_settings)) as (app, _),
        AsyncOAuth2Client(
            token_endpoint=f"{BASE_URL}/auth/token",
            token_endpoint_auth_method="none",
            transport=httpx.ASGITransport(app=app, client=CLIENT_ADDRESS),
            base_url=BASE_URL,
        ) as client,
    ):
        yield client


async def test_authlib_signs_in_refreshes_calls_and_revokes(
    oauth_client: AsyncOAuth2Client,
) -> None:
    token = await oauth_client.fetch_token(username="user@example.com", password=PASSWORD)
    me = await oauth_client.get("/auth/me")
    refreshed = await oauth_client.refresh_token(refresh_token=token["refresh_token"])
    me_again = await oauth_client.get("/auth/me")
    await oauth_client.revoke_token(f"{BASE_URL}/auth/revoke", token=refreshed["refresh_token"])

    assert me.status_code == me_again.status_code == 200
    assert me.json()["email"] == "user@example.com"
    assert refreshed["refresh_token"] != token["refresh_token"]
    with pytest.raises(ClientOAuthError, match="invalid_grant"):
        await oauth_client.refresh_token(refresh_token=refreshed["refresh_token"])


async def test_authlib_reports_a_wrong_password_as_invalid_grant(
    oauth_client: AsyncOAuth2Client,
) -> None:
    with pytest.raises(ClientOAuthError, match="invalid_grant"):
        await oauth_client.fetch_token(username="user@example.com", password="wrong password")
