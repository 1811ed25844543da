"""The auth service's HTTP endpoints: thin, each delegating to one use case."""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.attempt_counters import Throttled
from auth_service.grants import Grant, InvalidCredentials, password_grant, refresh_token_grant
from auth_service.keys import jwks_document
from auth_service.oauth import (
    NO_STORE_HEADERS,
    Form,
    OAuthError,
    authorization_server_metadata,
    oauth_error_response,
    read_form,
    require,
    too_many_attempts_response,
)
from auth_service.passwords import HasherBusy
from auth_service.refresh_tokens import (
    InvalidRefreshToken,
    Lifetimes,
    RefreshTokenReused,
    revoke,
)
from auth_service.registration import register_account
from auth_service.schemas import (
    JWKS,
    AuthorizationServerMetadata,
    OAuthErrorBody,
    RegisterRequest,
    TokenResponse,
    UserOut,
)
from auth_service.state import AuthState
from auth_service.tokens import issue_access_token
from auth_service.users import EmailTaken, get_user
from shared.database import DatabaseSession, utc_now
from shared.identity import CurrentIdentity, Unauthorized
from shared.openapi_responses import problems, sends
from shared.problem_types import EMAIL_TAKEN, REGISTRATIONS_BUSY, TOO_MANY_REGISTRATIONS
from shared.problems import Problem
from shared.state import lifespan_state

logger = logging.getLogger(__name__)
router = APIRouter()


State = Annotated[AuthState, Depends(lifespan_state)]


async def _not_stored(response: Response) -> None:
    """For answers that show an account: no cache may keep them. (Token answers have their own
    headers, RFC 6749's; error answers are problems, which no cache keeps either.)"""
    response.headers["Cache-Control"] = "no-store"


NotStored = Depends(_not_stored)


def _form_body(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for an endpoint that reads its form itself (RFC 6749 rules, not FastAPI's)."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


# An empty parameter is an absent one (RFC 6749 §3.2), so none may be empty.
_TOKEN_FORM = _form_body(
    ["grant_type"],
    {
        "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
        "username": {
            "type": "string",
            "minLength": 1,
            "description": "The account's email (required by the password grant).",
        },
        "password": {
            "type": "string",
            "minLength": 1,
            "format": "password",
            "description": "The account's password (required by the password grant).",
        },
        "refresh_token": {
            "type": "string",
            "minLength": 1,
            "description": "Required by the refresh_token grant.",
        },
    },
)
_REVOKE_FORM = _form_body(
    ["token"],
    {
        "token": {"type": "string", "minLength": 1, "description": "A refresh token."},
        "token_type_hint": {"type": "string"},
    },
)
_OAUTH_ERROR = {"model": OAuthErrorBody, "description": "An RFC 6749 §5.2 error"}


def _client_address(request: Request) -> str | None:
    """The client's address: uvicorn takes it from X-Forwarded-For only from trusted proxies."""
    return request.client.host if request.client else None


@router.post(
    "/auth/register",
    dependencies=[NotStored],
    status_code=201,
    response_model=UserOut,
    summary="Create an account",
    responses={
        201: sends("Cache-Control"),
        **problems(EMAIL_TAKEN, TOO_MANY_REGISTRATIONS, REGISTRATIONS_BUSY),
    },
)
async def register(
    body: RegisterRequest, request: Request, session: DatabaseSession, state: State
) -> UserOut:
    throttle, metrics = state["registration_throttle"], state["auth_metrics"]
    try:
        user = await register_account(
            session,
            state["passwords"],
            throttle,
            body.email,
            body.password,
            client_address=_client_address(request),
            now=utc_now(),
        )
    except Throttled as throttled:
        metrics.registrations.labels("throttled").inc()
        raise Problem(
            TOO_MANY_REGISTRATIONS,
            "Too many registrations from this address; try again later.",
            headers={"Retry-After": str(throttled.retry_after_seconds)},
        ) from None
    except HasherBusy:
        metrics.registrations.labels("busy").inc()
        # 429, not 503: the gateway counts an upstream's 503s towards opening its circuit,
        # which would refuse sign-ins too.
        raise Problem(
            REGISTRATIONS_BUSY,
            "Registrations are arriving faster than they can be processed; try again shortly.",
            headers={"Retry-After": str(math.ceil(throttle.max_hashing_wait_seconds))},
        ) from None
    except EmailTaken:
        metrics.registrations.labels("email_taken").inc()
        raise Problem(EMAIL_TAKEN, "An account with this email already exists.") from None
    metrics.registrations.labels("created").inc()
    return UserOut.model_validate(user)


async def _password_grant(
    form: Form, request: Request, session: AsyncSession, state: AuthState
) -> Grant:
    email, password = require(form, "username"), require(form, "password")
    metrics = state["auth_metrics"]
    try:
        grant = await password_grant(
            session,
            state["passwords"],
            state["login_throttle"],
            email,
            password,
            client_address=_client_address(request),
            lifetimes=Lifetimes.from_settings(state["settings"]),
            now=utc_now(),
        )
    except Throttled:
        metrics.logins.labels("throttled").inc()
        raise
    except InvalidCredentials:
        metrics.logins.labels("invalid_credentials").inc()
        raise OAuthError("invalid_grant", "The email or password is incorrect.") from None
    metrics.logins.labels("success").inc()
    return grant


async def _refresh_token_grant(form: Form, session: AsyncSession, state: AuthState) -> Grant:
    settings, metrics = state["settings"], state["auth_metrics"]
    try:
        grant = await refresh_token_grant(
            session,
            require(form, "refresh_token"),
            Lifetimes.from_settings(settings),
            now=utc_now(),
        )
    except InvalidRefreshToken as invalid:
        reused = isinstance(invalid, RefreshTokenReused)
        metrics.refreshes.labels("reused" if reused else "invalid").inc()
        logger.info("refresh_token_refused", extra={"reason": invalid.reason})
        raise OAuthError(
            "invalid_grant", "The refresh token is invalid, expired or revoked."
        ) from None
    metrics.refreshes.labels("success").inc()
    return grant


@router.post(
    "/auth/token",
    response_model=TokenResponse,
    summary="Get tokens (OAuth 2.0 password and refresh_token grants)",
    responses={
        200: sends("Cache-Control"),
        400: _OAUTH_ERROR,
        429: {
            "model": OAuthErrorBody,
            "description": "Too many failed sign-ins (`too_many_attempts`)",
            **sends("Retry-After", "Cache-Control"),
        },
    },
    openapi_extra=_TOKEN_FORM,
)
async def token(
    request: Request,
    session: DatabaseSession,
    state: State,
) -> JSONResponse:
    try:
        form = await read_form(request)
        grant_type = require(form, "grant_type")
        if grant_type == "password":
            grant = await _password_grant(form, request, session, state)
        elif grant_type == "refresh_token":
            grant = await _refresh_token_grant(form, session, state)
        else:
            raise OAuthError(
                "unsupported_grant_type", "Supported grant types: password, refresh_token."
            )
    except OAuthError as error:
        return oauth_error_response(error)
    except Throttled as throttled:
        return too_many_attempts_response(throttled.retry_after_seconds)
    settings = state["settings"]
    access = issue_access_token(
        grant.user.id,
        grant.user.role,
        state["key_set"].signing_key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )
    body = TokenResponse(
        access_token=access.token, expires_in=access.expires_in, refresh_token=grant.refresh_token
    )
    return JSONResponse(body.model_dump(), headers=NO_STORE_HEADERS)


@router.post(
    "/auth/revoke",
    summary="Revoke a refresh token and its family (RFC 7009)",
    # Answered with no body (RFC 7009 §2.2 defines none).
    response_class=Response,
    responses={
        200: {
            "description": "Revoked, or the token was not valid anyway",
            **sends("Cache-Control"),
        },
        400: _OAUTH_ERROR,
    },
    openapi_extra=_REVOKE_FORM,
)
async def revoke_token(request: Request, session: DatabaseSession) -> Response:
    try:
        presented = require(await read_form(request), "token")
    except OAuthError as error:
        return oauth_error_response(error)
    # RFC 7009 §2.2: an unknown or invalid token is answered 200 too.
    async with session.begin():
        family_id = await revoke(session, presented, now=utc_now())
    if family_id is not None:
        logger.info("refresh_token_family_revoked", extra={"family_id": str(family_id)})
    return Response(status_code=200, headers=NO_STORE_HEADERS)


@router.get(
    "/auth/me",
    dependencies=[NotStored],
    response_model=UserOut,
    summary="The account of the bearer token",
    responses={200: sends("Cache-Control")},
)
async def me(identity: CurrentIdentity, session: DatabaseSession) -> UserOut:
    user = await get_user(session, identity.user_id)
    if user is None:
        raise Unauthorized("unknown user")
    return UserOut.model_validate(user)


@router.get(
    "/.well-known/jwks.json",
    response_model=JWKS,
    summary="Public keys of access tokens",
    responses={200: sends("Cache-Control")},
)
async def jwks(response: Response, state: State) -> Any:
    response.headers["Cache-Control"] = f"public, max-age={state['settings'].jwks_max_age_seconds}"
    return jwks_document(state["key_set"].verification_keys)


@router.get(
    "/.well-known/oauth-authorization-server",
    response_model=AuthorizationServerMetadata,
    response_model_exclude_none=True,
    summary="Authorization server metadata (RFC 8414)",
    responses={200: sends("Cache-Control")},
)
async def metadata(response: Response, state: State) -> Any:
    settings = state["settings"]
    response.headers["Cache-Control"] = f"public, max-age={settings.jwks_max_age_seconds}"
    return authorization_server_metadata(settings.jwt_issuer)
