"""The auth service's request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import email_validator
from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _mailbox(address: str) -> str:
    """The address in its normal form, if it is one as RFC 5321 writes them (what the `email`
    format of JSON Schema means). Whether mail reaches it is not checked: no DNS, and `.test`
    is an address like any other; only the special-use domains no mail can go to are refused."""
    try:
        checked = email_validator.validate_email(
            address, check_deliverability=False, test_environment=True, globally_deliverable=False
        )
    except email_validator.EmailNotValidError as error:
        raise ValueError(f"not a valid email address: {error}") from None
    return checked.normalized


EmailAddress = Annotated[
    str,
    Field(
        max_length=254,
        json_schema_extra={
            "format": "email",
            "description": "Not under .local, .localhost, .invalid, .onion or .arpa (RFC 6761).",
        },
    ),
    AfterValidator(_mailbox),
]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailAddress
    password: str = Field(min_length=8, max_length=128)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: Literal["user", "admin"]
    created_at: datetime


class TokenResponse(BaseModel):
    """RFC 6749 §5.1."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - not a secret
    expires_in: int
    refresh_token: str


class OAuthErrorBody(BaseModel):
    """RFC 6749 §5.2."""

    error: Literal[
        "invalid_request", "invalid_grant", "unsupported_grant_type", "too_many_attempts"
    ]
    error_description: str


class JWKS(BaseModel):
    keys: list[dict[str, str]]


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 §2, the members this server publishes."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str
    grant_types_supported: list[str]
    response_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    service_documentation: str | None = None
