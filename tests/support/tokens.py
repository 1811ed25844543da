"""Signing keys and access tokens for tests, made by the auth service's own code."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth_service.keys import (
    SigningKey,
    generate_private_key_pem,
    jwks_document,
    signing_key_from_pem,
)
from auth_service.tokens import issue_access_token
from shared.tokens import ACCESS_TOKEN_TYPE

ISSUER = "http://issuer.test"
AUDIENCE = "order-platform"


def new_signing_key() -> SigningKey:
    return signing_key_from_pem(generate_private_key_pem())


@dataclass
class TokenFactory:
    """Issues tokens the way the auth service does, with any claim overridable."""

    key: SigningKey

    def issue(
        self,
        user_id: uuid.UUID | None = None,
        role: str = "user",
        *,
        ttl_seconds: int = 900,
        now: datetime | None = None,
    ) -> str:
        return issue_access_token(
            user_id or uuid.uuid4(),
            role,
            self.key,
            issuer=ISSUER,
            audience=AUDIENCE,
            ttl_seconds=ttl_seconds,
            now=now,
        ).token

    @staticmethod
    def claims(**overrides: Any) -> dict[str, Any]:
        """A full, valid set of claims, with overrides; None removes a claim."""
        now = int(datetime.now(UTC).timestamp())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(uuid.uuid4()),
            "role": "user",
            "iat": now,
            "exp": now + 900,
            "jti": uuid.uuid4().hex,
            **overrides,
        }
        return {name: value for name, value in claims.items() if value is not None}

    def issue_with_claims(
        self, overrides: dict[str, Any], headers: dict[str, Any] | None = None
    ) -> str:
        return jwt.encode(
            self.claims(**overrides),
            self.key.private_key,
            algorithm="RS256",
            headers={"kid": self.key.kid, "typ": ACCESS_TOKEN_TYPE, **(headers or {})},
        )


@dataclass
class JwksEndpoint:
    """A stand-in auth service that publishes keys over real HTTP, and counts its callers."""

    keys: list[SigningKey]
    max_age: int | None = 300
    is_failing: bool = False
    # While set, requests hang until `release` is set (or 30 s pass).
    is_hanging: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    hits: int = 0
    app: Starlette = field(init=False)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/.well-known/jwks.json", self._serve)])

    async def _serve(self, _: Request) -> Response:
        self.hits += 1
        if self.is_hanging:
            await anyio.to_thread.run_sync(self.release.wait, 30)
        if self.is_failing:
            return Response("unavailable", status_code=503)
        headers = {} if self.max_age is None else {"Cache-Control": f"max-age={self.max_age}"}
        return JSONResponse(
            jwks_document(key.verification_key for key in self.keys), headers=headers
        )
