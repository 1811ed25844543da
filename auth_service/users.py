"""Accounts: registration, password login and the admin role."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.models import User
from auth_service.passwords import Passwords, Priority
from shared.text import has_control_characters

logger = logging.getLogger(__name__)


class EmailTaken(Exception):
    """Another account already uses this email address."""


def normalize_email(email: str) -> str:
    """Emails are compared case-insensitively: one account per address, whatever its case."""
    return email.strip().lower()


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    if has_control_characters(email):
        return None  # no account can have such an address, and Postgres refuses NUL
    return await session.scalar(select(User).where(User.email == normalize_email(email)))


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def email_is_taken(session: AsyncSession, email: str) -> bool:
    return await find_user_by_email(session, email) is not None


async def add_user(
    session: AsyncSession, email: str, password_hash: str, *, role: str = "user"
) -> User:
    """Insert an account; raises `EmailTaken` (also when a concurrent request won the race)."""
    user = User(email=normalize_email(email), password_hash=password_hash, role=role)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        raise EmailTaken(email) from None
    return user


async def check_password(passwords: Passwords, user: User | None, password: str) -> User | None:
    """`user` when `password` is theirs, else None; an unknown user (None) costs the same time.

    Called outside any transaction: the slow hash must not hold a database connection.
    """
    is_valid = await passwords.verify(user.password_hash if user else None, password)
    return user if is_valid else None


async def replace_password_hash(session: AsyncSession, user: User, new_hash: str) -> None:
    """Store a fresh hash of the same password, unless the password changed meanwhile.

    `user` is left as it was: changing it would make the session flush it unconditionally.
    """
    await session.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == user.password_hash)
        .values(password_hash=new_hash)
        .execution_options(synchronize_session=False)
    )


async def ensure_admin(
    session: AsyncSession, passwords: Passwords, email: str, password: str
) -> User:
    """Promote the account with this email to admin, creating it with `password` if missing."""
    user = await find_user_by_email(session, email)
    if user is None:
        password_hash = await passwords.hash(password, priority=Priority.NEW_PASSWORD)
        try:
            async with session.begin_nested():
                user = await add_user(session, email, password_hash, role="admin")
        except EmailTaken:
            # Another replica bootstrapped the same admin at the same moment.
            user = await find_user_by_email(session, email)
            assert user is not None
    if user.role != "admin":
        user.role = "admin"
        logger.info("user_promoted_to_admin", extra={"user_id": str(user.id)})
    return user
