"""Registration as a use case: throttled, and no password hash for an email that is taken."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.models import User
from auth_service.passwords import Passwords, Priority
from auth_service.registration_throttle import RegistrationThrottle
from auth_service.users import EmailTaken, add_user, email_is_taken


async def register_account(
    session: AsyncSession,
    passwords: Passwords,
    throttle: RegistrationThrottle,
    email: str,
    password: str,
    *,
    client_address: str | None,
    now: datetime,
) -> User:
    """Create an account; raises `Throttled` (before anything else), `EmailTaken`, or
    `HasherBusy` when the hasher has no room for it within the throttle's bounds.

    The email is looked up before the slow hash, so that a taken one costs none; two
    registrations racing for one email both hash, and the unique index refuses the second.
    The hash runs between the transactions, so that no database connection waits on it.
    """
    async with session.begin():
        await throttle.spend(session, client_address, now=now)
        is_taken = await email_is_taken(session, email)
    if is_taken:  # raised once committed: a probe of a taken email counts too
        raise EmailTaken(email)
    password_hash = await passwords.hash(
        password,
        priority=Priority.NEW_PASSWORD,
        max_queued=throttle.max_queued,
        max_wait_seconds=throttle.max_hashing_wait_seconds,
    )
    async with session.begin():
        return await add_user(session, email, password_hash)
