"""Accounts: finding, adding and checking them."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.models import User
from auth_service.passwords import Passwords
from shared.text import has_control_characters


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


async def password_is_unchanged(session: AsyncSession, user: User) -> bool:
    """Whether `user` still has the password that was loaded with it.

    The row stays locked (shared) until the transaction ends: a sign-in that goes on to start
    a session either commits before a password reset, which then ends that session too, or
    waits for the reset and sees the new password.
    """
    stored = await session.scalar(
        select(User.password_hash).where(User.id == user.id).with_for_update(read=True)
    )
    return stored == user.password_hash


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
