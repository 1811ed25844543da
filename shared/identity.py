"""FastAPI dependencies that turn a bearer token into a verified `Identity`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.problem_types import FORBIDDEN, UNAUTHORIZED
from shared.problems import Problem
from shared.state import VerifyingState
from shared.tokens import Identity, InvalidToken, Verifier

MISSING_TOKEN = "missing token"  # noqa: S105 - a reason, not a secret


class Unauthorized(Problem):
    """401 with the `WWW-Authenticate` challenge of RFC 6750 §3; `reason` says why, in a few
    words safe to show (and to count by)."""

    def __init__(self, reason: str = MISSING_TOKEN) -> None:
        if reason == MISSING_TOKEN:
            super().__init__(
                UNAUTHORIZED,
                "A bearer token is required.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        else:
            challenge = f'Bearer error="invalid_token", error_description="{reason}"'
            super().__init__(
                UNAUTHORIZED,
                f"The access token is not valid: {reason}.",
                headers={"WWW-Authenticate": challenge},
            )
        self.reason = reason


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), if any."""
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


async def identify(verifier: Verifier, authorization: str | None) -> Identity:
    """The verified identity behind an `Authorization` header; raises `Unauthorized`."""
    token = bearer_token(authorization)
    if token is None:
        raise Unauthorized()
    try:
        return await verifier.verify(token)
    except InvalidToken as exc:
        raise Unauthorized(exc.reason) from None


async def authenticate(request: Request) -> Identity:
    """The identity of the request's bearer token; the OpenAPI documents declare the
    security of every operation that depends on this (`shared.openapi`)."""
    state: VerifyingState = request.scope["state"]
    return await identify(state["verifier"], request.headers.get("authorization"))


CurrentIdentity = Annotated[Identity, Depends(authenticate)]


async def require_admin(identity: CurrentIdentity) -> Identity:
    if not identity.is_admin:
        raise Problem(FORBIDDEN, "This operation needs the admin role.")
    return identity


AdminIdentity = Annotated[Identity, Depends(require_admin)]
