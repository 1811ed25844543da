"""The auth service's HTTP endpoints: thin, each delegating to `users`, `tokens` or `keys`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from auth_service.config import AuthSettings
from auth_service.keys import SigningKey, jwks_document
from auth_service.oauth import (
    NO_STORE_HEADERS,
    OAuthError,
    oauth_error_response,
    read_token_form,
    require,
)
from auth_service.passwords import Passwords
from auth_service.schemas import JWKS, OAuthErrorBody, RegisterRequest, TokenResponse, UserOut
from auth_service.tokens import issue_access_token
from auth_service.users import (
    EmailTaken,
    check_password,
    find_user_by_email,
    get_user,
    register_user,
)
from shared.database import DatabaseSession
from shared.identity import CurrentIdentity, unauthorized
from shared.problems import Problem

router = APIRouter()


def _settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.settings
    return settings


def _passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


def _signing_key(request: Request) -> SigningKey:
    key: SigningKey = request.app.state.signing_key
    return key


Settings = Annotated[AuthSettings, Depends(_settings)]
PasswordHashing = Annotated[Passwords, Depends(_passwords)]
CurrentSigningKey = Annotated[SigningKey, Depends(_signing_key)]

_TOKEN_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["password"]},
                        "username": {"type": "string", "description": "The account's email."},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/auth/register",
    status_code=201,
    response_model=UserOut,
    summary="Create an account",
    responses={409: {"description": "The email is taken"}},
)
async def register(
    body: RegisterRequest, session: DatabaseSession, passwords: PasswordHashing
) -> UserOut:
    try:
        async with session.begin():
            user = await register_user(session, passwords, body.email, body.password)
    except EmailTaken:
        raise Problem(
            409, "An account with this email already exists.", slug="email-taken"
        ) from None
    return UserOut.model_validate(user)


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Get an access token (OAuth 2.0 password grant)",
    responses={400: {"model": OAuthErrorBody, "description": "RFC 6749 §5.2 error"}},
    openapi_extra=_TOKEN_FORM_SCHEMA,
)
async def token(
    request: Request,
    session: DatabaseSession,
    passwords: PasswordHashing,
    settings: Settings,
    signing_key: CurrentSigningKey,
) -> JSONResponse:
    try:
        form = await read_token_form(request)
        grant_type = require(form, "grant_type")
        if grant_type != "password":
            raise OAuthError(
                "unsupported_grant_type", f"Grant type {grant_type!r} is not supported."
            )
        email, password = require(form, "username"), require(form, "password")
        async with session.begin():
            account = await find_user_by_email(session, email)
        # The connection is back in the pool before the slow password check.
        user = await check_password(passwords, account, password)
        if user is None:
            raise OAuthError("invalid_grant", "The email or password is incorrect.")
    except OAuthError as error:
        return oauth_error_response(error)
    access = issue_access_token(
        user.id,
        user.role,
        signing_key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    body = TokenResponse(access_token=access.token, expires_in=access.expires_in)
    return JSONResponse(body.model_dump(), headers=NO_STORE_HEADERS)


@router.get("/auth/me", response_model=UserOut, summary="The account of the bearer token")
async def me(identity: CurrentIdentity, session: DatabaseSession) -> UserOut:
    user = await get_user(session, identity.user_id)
    if user is None:
        raise unauthorized("unknown user")
    return UserOut.model_validate(user)


@router.get("/.well-known/jwks.json", response_model=JWKS, summary="Public keys of access tokens")
async def jwks(response: Response, settings: Settings, signing_key: CurrentSigningKey) -> Any:
    response.headers["Cache-Control"] = f"public, max-age={settings.jwks_max_age_seconds}"
    return jwks_document([signing_key])
