"""Verification of the platform's access tokens (RFC 8725 rules) against a source of keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import jwt

# Pinned: the algorithm is never taken from the token (no `none`, no HMAC with a public key).
ALGORITHMS = ["RS256"]
# RFC 9068 §2.1: access tokens say what they are, so no other JWT signed with the same key
# (an ID token, say) can pass for one.
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]

Role = Literal["user", "admin"]
ROLES: frozenset[str] = frozenset({"user", "admin"})


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token speaks for."""

    user_id: uuid.UUID
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    identity: Identity
    # `exp`, as a Unix time.
    expires_at: float
    # The key that signed it: it must still be published for the token to stay good.
    kid: str


class InvalidToken(Exception):
    """The token cannot be trusted; `reason` is safe to show to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Verifier(Protocol):
    """Turns a bearer token into the identity it proves, or raises `InvalidToken`."""

    async def verify(self, token: str) -> Identity: ...


class KeySource(Protocol):
    """Where the verifier finds the public key named by a token's `kid`."""

    async def key_for(self, kid: str) -> Any | None: ...


class StaticKeySource:
    """A fixed set of keys, for the service that holds the keys itself."""

    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys

    async def key_for(self, kid: str) -> Any | None:
        return self.keys.get(kid)


class TokenVerifier:
    def __init__(self, keys: KeySource, *, issuer: str, audience: str, leeway_seconds: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway_seconds = leeway_seconds

    async def verify(self, token: str) -> Identity:
        return (await self.verify_in_full(token)).identity

    async def verify_in_full(self, token: str) -> VerifiedToken:
        """The identity, with what a cache of verified tokens needs to know."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("malformed token") from None
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("unsupported algorithm")
        if str(header.get("typ", "")).lower() not in {
            ACCESS_TOKEN_TYPE,
            f"application/{ACCESS_TOKEN_TYPE}",
        }:
            raise InvalidToken("not an access token")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("missing key id")
        key = await self.keys.key_for(kid)
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(_describe(exc)) from None
        return VerifiedToken(_identity_from(claims), float(claims["exp"]), kid)


def _describe(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim {exc.claim}"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token not valid yet"
    return "invalid token"


def _identity_from(claims: dict[str, Any]) -> Identity:
    try:
        user_id = uuid.UUID(claims["sub"])
    except (TypeError, ValueError):
        raise InvalidToken("invalid subject") from None
    role = claims.get("role")
    if role == "admin":
        return Identity(user_id, "admin")
    if role == "user":
        return Identity(user_id, "user")
    raise InvalidToken("invalid role")
