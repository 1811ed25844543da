"""The auth service's request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)
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
