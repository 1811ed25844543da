from __future__ import annotations

import httpx
from sqlalchemy import select

from auth_service.models import RefreshTokenFamily
from tests.auth_service.conftest import refresh, sign_in
from tests.support.database import session_on


async def revoke(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/revoke", data={"token": token})


async def test_a_revoked_refresh_token_is_refused(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    token = (await sign_in(auth_client))["refresh_token"]

    revoked = await revoke(auth_client, token)

    assert revoked.status_code == 200
    assert (await refresh(auth_client, token)).json()["error"] == "invalid_grant"
    async with session_on(auth_database_url) as session:
        family = await session.scalar(select(RefreshTokenFamily))
    assert family is not None
    assert family.revoked_reason == "revoked"


async def test_revoking_a_token_revokes_its_successors_too(
    auth_client: httpx.AsyncClient,
) -> None:
    first = (await sign_in(auth_client))["refresh_token"]
    second = (await refresh(auth_client, first)).json()["refresh_token"]

    await revoke(auth_client, first)

    assert (await refresh(auth_client, second)).status_code == 400


async def test_revoking_an_unknown_token_is_200_too(auth_client: httpx.AsyncClient) -> None:
    response = await revoke(auth_client, "not-a-token-anyone-was-given")

    assert response.status_code == 200


async def test_a_revocation_is_answered_with_no_body_as_documented(
    auth_client: httpx.AsyncClient,
) -> None:
    # Found by fuzzing: the document promised JSON and the answer had none.
    response = await revoke(auth_client, "not-a-token-anyone-was-given")
    documented = (await auth_client.get("/openapi.json")).json()
    ok = documented["paths"]["/auth/revoke"]["post"]["responses"]["200"]

    assert response.content == b""
    assert "content-type" not in response.headers
    assert "content" not in ok


async def test_revoking_twice_is_200(auth_client: httpx.AsyncClient) -> None:
    token = (await sign_in(auth_client))["refresh_token"]

    assert (await revoke(auth_client, token)).status_code == 200
    assert (await revoke(auth_client, token)).status_code == 200


async def test_revoke_without_a_token_is_an_invalid_request(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.post("/auth/revoke", data={"token_type_hint": "refresh_token"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
