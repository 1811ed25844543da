"""No cache may keep an answer that shows an account or carries a token; the published keys and
metadata stay cacheable."""

from __future__ import annotations

import httpx
import pytest

from tests.auth_service.conftest import register, request_token, sign_in


def is_never_stored(response: httpx.Response) -> bool:
    return response.headers.get_list("cache-control") == ["no-store"]


async def test_a_new_account_is_never_stored(auth_client: httpx.AsyncClient) -> None:
    response = await register(auth_client)

    assert response.status_code == 201
    assert is_never_stored(response)


async def test_refused_registrations_are_never_stored(auth_client: httpx.AsyncClient) -> None:
    await register(auth_client)

    taken = await register(auth_client)
    invalid = await register(auth_client, password="short")

    assert (taken.status_code, invalid.status_code) == (409, 422)
    assert is_never_stored(taken)
    assert is_never_stored(invalid)


async def test_the_account_of_a_token_is_never_stored(auth_client: httpx.AsyncClient) -> None:
    token = (await sign_in(auth_client))["access_token"]

    response = await auth_client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    refused = await auth_client.get("/auth/me")

    assert response.status_code == 200
    assert is_never_stored(response)
    assert refused.status_code == 401
    assert is_never_stored(refused)


async def test_tokens_and_token_errors_are_never_stored(auth_client: httpx.AsyncClient) -> None:
    await register(auth_client)

    granted = await request_token(auth_client)
    refused = await request_token(auth_client, password="wrong-password")

    assert (granted.status_code, refused.status_code) == (200, 400)
    for response in (granted, refused):
        assert is_never_stored(response)
        assert response.headers["pragma"] == "no-cache"  # RFC 6749 §5.1


@pytest.mark.parametrize(("form", "status"), [({"token": "unknown"}, 200), ({}, 400)])
async def test_revocations_are_never_stored(
    auth_client: httpx.AsyncClient, form: dict[str, str], status: int
) -> None:
    response = await auth_client.post("/auth/revoke", data=form)

    assert response.status_code == status
    assert is_never_stored(response)


@pytest.mark.parametrize(
    "path", ["/.well-known/jwks.json", "/.well-known/oauth-authorization-server"]
)
async def test_what_is_published_for_everyone_stays_cacheable(
    auth_client: httpx.AsyncClient, path: str
) -> None:
    response = await auth_client.get(path)

    assert response.headers["cache-control"].startswith("public, max-age=")
