"""RFC 6749 mechanics of the token and revocation endpoints: forms, errors, metadata."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse

# RFC 6749 §5.1: token responses must never be cached.
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
GRANT_TYPES = ("password", "refresh_token")
_MAX_FORM_BYTES = 8 * 1024


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: answered as `{"error", "error_description"}` with status 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def oauth_error_response(error: OAuthError) -> JSONResponse:
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=400,
        headers=NO_STORE_HEADERS,
    )


def too_many_attempts_response(retry_after_seconds: int) -> JSONResponse:
    """429 in the token endpoint's error shape (RFC 6749 defines no code; Auth0's is used)."""
    return JSONResponse(
        {
            "error": "too_many_attempts",
            "error_description": "Too many sign-in attempts; try again later.",
        },
        status_code=429,
        headers={**NO_STORE_HEADERS, "Retry-After": str(retry_after_seconds)},
    )


Form = Mapping[str, list[str]]


async def read_form(request: Request) -> Form:
    """The form's parameters, each with its values; RFC 6749 §3.2: form-encoded."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "The body must be application/x-www-form-urlencoded.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise OAuthError("invalid_request", "The request body is too large.")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "The body is not a valid form.") from None
    form: dict[str, list[str]] = defaultdict(list)
    for name, value in pairs:
        form[name].append(value)
    return form


def require(form: Form, name: str) -> str:
    """A parameter the endpoint reads: present, once (RFC 6749 §3.2), and not empty (which
    means absent). Others are ignored, however often they come (§3.2: "MUST ignore")."""
    values = form.get(name, [])
    if len(values) > 1:
        raise OAuthError("invalid_request", f"Parameter {name!r} must not repeat.")
    if not values or not values[0]:
        raise OAuthError("invalid_request", f"Parameter {name!r} is required.")
    return values[0]


def authorization_server_metadata(issuer: str) -> dict[str, Any]:
    """RFC 8414 §2; the issuer is the gateway's public address, where every endpoint is."""
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "token_endpoint": f"{base}/auth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/auth/revoke",
        "grant_types_supported": list(GRANT_TYPES),
        # No authorization endpoint, so no response type; clients are public (no secret).
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "service_documentation": f"{base}/docs",
    }
