from __future__ import annotations

import uuid

import httpx
import jwt
import pytest

from auth_service.keys import SigningKey
from tests.auth_service.conftest import register, request_token
from tests.support.tokens import AUDIENCE, ISSUER


@pytest.fixture
async def user_id(auth_client: httpx.AsyncClient) -> uuid.UUID:
    return uuid.UUID((await register(auth_client)).json()["id"])


async def test_password_grant_issues_a_bearer_token_that_must_not_be_cached(
    auth_client: httpx.AsyncClient, user_id: uuid.UUID
) -> None:
    response = await request_token(auth_client)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900


async def test_the_access_token_is_rs256_with_kid_and_every_required_claim(
    auth_client: httpx.AsyncClient, user_id: uuid.UUID, signing_key: SigningKey
) -> None:
    token = (await request_token(auth_client)).json()["access_token"]

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, signing_key.public_key, algorithms=["RS256"], audience=AUDIENCE)
    assert header["alg"] == "RS256"
    assert header["kid"] == signing_key.kid
    assert claims["iss"] == ISSUER
    assert claims["sub"] == str(user_id)
    assert claims["role"] == "user"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]


async def test_login_ignores_the_case_of_the_email(
    auth_client: httpx.AsyncClient, user_id: uuid.UUID
) -> None:
    response = await request_token(auth_client, "USER@Example.com")

    assert response.status_code == 200


async def test_wrong_password_and_unknown_email_get_the_same_invalid_grant(
    auth_client: httpx.AsyncClient, user_id: uuid.UUID
) -> None:
    wrong_password = await request_token(auth_client, password="not the password")
    unknown_email = await request_token(auth_client, email="nobody@example.com")

    assert wrong_password.status_code == unknown_email.status_code == 400
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json()["error"] == "invalid_grant"
    assert wrong_password.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"username": "user@example.com", "password": "x"}, "invalid_request"),
        ({"grant_type": "password", "password": "x"}, "invalid_request"),
        ({"grant_type": "password", "username": "user@example.com"}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
    ],
    ids=["no-grant-type", "no-username", "no-password", "unsupported"],
)
async def test_malformed_token_requests_get_rfc6749_errors(
    auth_client: httpx.AsyncClient, form: dict[str, str], error: str
) -> None:
    response = await auth_client.post("/auth/token", data=form)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error
    assert response.json()["error_description"]


async def test_an_email_with_a_nul_byte_is_just_an_unknown_account(
    auth_client: httpx.AsyncClient, user_id: uuid.UUID
) -> None:
    response = await request_token(auth_client, email="user\x00@example.com")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_a_repeated_parameter_is_an_invalid_request(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.post(
        "/auth/token",
        content=b"grant_type=password&username=a@example.com&username=b@example.com&password=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_unknown_parameters_are_ignored_even_repeated(
    auth_client: httpx.AsyncClient,
) -> None:
    # Found by fuzzing; RFC 6749 §3.2: the server MUST ignore parameters it does not know.
    response = await auth_client.post(
        "/auth/revoke",
        content=b"token=unknown&x-extra=1&x-extra=2",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200


async def test_a_json_body_is_an_invalid_request(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.post(
        "/auth/token", json={"grant_type": "password", "username": "a", "password": "b"}
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
