"""The token endpoint's grants as use cases: who signs in, and with which refresh token.

Each use case opens its own short transactions: the password check runs between them, so
that no database connection waits on the slow hash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.login_throttle import LoginThrottle
from auth_service.models import User
from auth_service.passwords import Passwords, Priority
from auth_service.refresh_tokens import (
    REVOKED_FOR_REUSE,
    Lifetimes,
    RefreshTokenReused,
    revoke_family,
    rotate,
    start_family,
)
from auth_service.users import (
    check_password,
    find_user_by_email,
    password_is_unchanged,
    replace_password_hash,
)

logger = logging.getLogger(__name__)


class InvalidCredentials(Exception):
    """Unknown email or wrong password: deliberately indistinguishable."""


@dataclass(frozen=True)
class Grant:
    """Whom the access token is for, and the refresh token that goes with it."""

    user: User
    refresh_token: str


async def password_grant(  # noqa: PLR0913 - the use case's collaborators, then the request's inputs
    session: AsyncSession,
    passwords: Passwords,
    throttle: LoginThrottle,
    email: str,
    password: str,
    *,
    client_address: str | None,
    lifetimes: Lifetimes,
    now: datetime,
) -> Grant:
    """Sign in; raises `Throttled` (before any password check) or `InvalidCredentials`."""
    async with session.begin():
        await throttle.spend_attempt(session, email, client_address, now=now)
        account = await find_user_by_email(session, email)
    user = await check_password(passwords, account, password)
    if user is None:
        raise InvalidCredentials
    # Hashes made with older parameters are upgraded while the password is at hand.
    new_hash = (
        await passwords.hash(password, priority=Priority.SIGN_IN)
        if passwords.needs_rehash(user.password_hash)
        else None
    )
    async with session.begin():
        # A password reset meanwhile (it ends every session) wins over this sign-in.
        if not await password_is_unchanged(session, user):
            raise InvalidCredentials
        await throttle.give_back_attempt(session, email, client_address)
        if new_hash is not None:
            await replace_password_hash(session, user, new_hash)
        refresh_token = await start_family(session, user.id, lifetimes, now=now)
    return Grant(user, refresh_token)


async def refresh_token_grant(
    session: AsyncSession, presented: str, lifetimes: Lifetimes, *, now: datetime
) -> Grant:
    """Rotate a refresh token; raises `InvalidRefreshToken`, after revoking the family when
    the token had been used before."""
    try:
        async with session.begin():
            rotation = await rotate(session, presented, lifetimes, now=now)
    except RefreshTokenReused as reuse:
        async with session.begin():
            await revoke_family(session, reuse.family_id, reason=REVOKED_FOR_REUSE, now=now)
        logger.warning("refresh_token_reuse_detected", extra={"family_id": str(reuse.family_id)})
        raise
    return Grant(rotation.user, rotation.refresh_token)
