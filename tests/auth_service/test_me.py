from __future__ import annotations

import httpx

from tests.auth_service.conftest import register, request_token
from tests.support.tokens import TokenFactory


async def test_me_describes_the_account_of_the_token(auth_client: httpx.AsyncClient) -> None:
    registered = (await register(auth_client)).json()
    token = (await request_token(auth_client)).json()["access_token"]

    response = await auth_client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.json() == registered


async def test_me_without_a_token_is_401_with_a_bearer_challenge(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.get("/auth/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


async def test_me_with_a_bad_token_is_401_invalid_token(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.get("/auth/me", headers={"Authorization": "Bearer nonsense"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_me_for_a_deleted_account_is_401(
    auth_client: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    response = await auth_client.get(
        "/auth/me", headers={"Authorization": f"Bearer {tokens.issue()}"}
    )

    assert response.status_code == 401
