"""Making administrators, only ever with a password that the operator set.

An account that exists already may have been registered by anyone, with a password the
operator does not know (say, in advance, under the future admin's email): it is never
promoted as it is. `reset_admin` first sets the operator's password and ends the account's
sign-ins, then promotes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.models import User
from auth_service.passwords import Passwords, Priority
from auth_service.refresh_tokens import REVOKED_BY_RESET, revoke_every_family_of
from auth_service.users import EmailTaken, add_user, find_user_by_email, normalize_email

logger = logging.getLogger(__name__)


class AccountExists(Exception):
    """The email has an account already, which `create_admin` leaves as it is."""

    def __init__(self, user: User) -> None:
        super().__init__(user.email)
        self.user = user

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"


@dataclass(frozen=True)
class AdminReset:
    """An account made an admin with a new password, and how many sign-ins that ended."""

    user: User
    ended_sign_ins: int


async def create_admin(
    session: AsyncSession, passwords: Passwords, email: str, password: str
) -> User:
    """A new admin account with `password`; raises `AccountExists` when the email has one.

    Safe when several replicas bootstrap the same admin at once: one creates it, the others
    find it (as `AccountExists`, an admin).
    """
    async with session.begin():
        existing = await find_user_by_email(session, email)
    if existing is not None:
        raise AccountExists(existing)
    password_hash = await passwords.hash(password, priority=Priority.NEW_PASSWORD)
    try:
        async with session.begin():
            user = await add_user(session, email, password_hash, role="admin")
    except EmailTaken:
        # Registered meanwhile: by another replica, or by anyone.
        async with session.begin():
            existing = await find_user_by_email(session, email)
        assert existing is not None
        raise AccountExists(existing) from None
    logger.info("admin_created", extra={"user_id": str(user.id)})
    return user


async def reset_admin(
    session: AsyncSession, passwords: Passwords, email: str, password: str, *, now: datetime
) -> AdminReset:
    """Make the email's account an admin whose password is `password`, created if missing.

    An existing account gets the password, and every sign-in it had (its refresh-token
    families) is ended in the same transaction, before the role changes. Access tokens
    already issued are not looked up anywhere: they stay valid until they expire.
    """
    try:
        return AdminReset(await create_admin(session, passwords, email, password), 0)
    except AccountExists:
        pass
    password_hash = await passwords.hash(password, priority=Priority.NEW_PASSWORD)
    async with session.begin():
        # Locked first: a sign-in checking the old password waits, then sees the new one.
        user = await session.scalar(
            select(User).where(User.email == normalize_email(email)).with_for_update()
        )
        assert user is not None  # accounts are never deleted
        was_admin = user.role == "admin"
        user.password_hash = password_hash
        user.role = "admin"
        await session.flush()
        ended = await revoke_every_family_of(session, user.id, reason=REVOKED_BY_RESET, now=now)
    logger.warning(
        "admin_password_reset",
        extra={"user_id": str(user.id), "was_admin": was_admin, "ended_sign_ins": ended},
    )
    return AdminReset(user, ended)
