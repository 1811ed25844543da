from __future__ import annotations

import httpx

from tests.support.tokens import ISSUER


async def test_metadata_describes_the_server_per_rfc8414(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.get("/.well-known/oauth-authorization-server")

    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("public, max-age=")
    metadata = response.json()
    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == f"{ISSUER}/auth/token"
    assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert metadata["revocation_endpoint"] == f"{ISSUER}/auth/revoke"
    assert metadata["grant_types_supported"] == ["password", "refresh_token"]
    assert metadata["token_endpoint_auth_methods_supported"] == ["none"]


async def test_every_advertised_endpoint_exists(auth_client: httpx.AsyncClient) -> None:
    metadata = (await auth_client.get("/.well-known/oauth-authorization-server")).json()

    jwks = await auth_client.get(metadata["jwks_uri"].removeprefix(ISSUER))
    token = await auth_client.post(metadata["token_endpoint"].removeprefix(ISSUER), data={})
    revoke = await auth_client.post(metadata["revocation_endpoint"].removeprefix(ISSUER), data={})

    assert jwks.status_code == 200
    # Both exist and answer an empty form with an RFC 6749 error, not a 404.
    assert token.json()["error"] == revoke.json()["error"] == "invalid_request"
