"""Refresh tokens: opaque, stored only as hashes, rotated on every use.

Every token rotated from one password grant belongs to one family. Using a token that was
already rotated means that two parties hold it (RFC 9700 §4.14.2): the whole family is
revoked, the legitimate client included, so that a stolen token dies with its family.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import delete, exists, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.config import AuthSettings
from auth_service.models import RefreshToken, RefreshTokenFamily, User
from shared.batched_delete import BATCH_SIZE, batch_delete

# 256 bits from the OS's CSPRNG, URL-safe: unguessable, so a fast hash is enough to store it.
_TOKEN_BYTES = 32
# A revoked family's reason, as stored.
REVOKED_BY_CLIENT = "revoked"
REVOKED_FOR_REUSE = "reuse"
REVOKED_BY_RESET = "password-reset"


class InvalidRefreshToken(Exception):
    """Unknown, expired or revoked; `reason` is for the log, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RefreshTokenReused(InvalidRefreshToken):
    """A rotated token came back: its family must be revoked (in a transaction that commits)."""

    def __init__(self, family_id: uuid.UUID) -> None:
        super().__init__("reused")
        self.family_id = family_id


@dataclass(frozen=True)
class Rotation:
    user: User
    refresh_token: str


@dataclass(frozen=True)
class Lifetimes:
    """A token dies when unused for `idle`; a sign-in ends `maximum` after it began."""

    idle: timedelta
    maximum: timedelta

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> Lifetimes:
        return cls(
            idle=timedelta(seconds=settings.refresh_token_ttl_seconds),
            maximum=timedelta(seconds=settings.sign_in_max_age_seconds),
        )


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _add_token(
    session: AsyncSession, family: RefreshTokenFamily, lifetimes: Lifetimes, now: datetime
) -> str:
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    session.add(
        RefreshToken(
            family_id=family.id,
            token_hash=hash_refresh_token(token),
            created_at=now,
            expires_at=min(now + lifetimes.idle, family.created_at + lifetimes.maximum),
        )
    )
    await session.flush()
    return token


async def start_family(
    session: AsyncSession, user_id: uuid.UUID, lifetimes: Lifetimes, *, now: datetime
) -> str:
    """A new family for a fresh sign-in, and its first refresh token."""
    family = RefreshTokenFamily(user_id=user_id, created_at=now)
    session.add(family)
    await session.flush()
    return await _add_token(session, family, lifetimes, now)


async def rotate(
    session: AsyncSession, presented: str, lifetimes: Lifetimes, *, now: datetime
) -> Rotation:
    """Spend `presented` and issue its successor in the same family.

    Raises `InvalidRefreshToken`, or `RefreshTokenReused` when the token was already spent,
    including by a concurrent request: the conditional update lets exactly one use win.
    """
    row = (
        await session.execute(
            select(RefreshToken, RefreshTokenFamily)
            .join(RefreshTokenFamily)
            .where(RefreshToken.token_hash == hash_refresh_token(presented))
            # A revocation committing meanwhile is waited for, then seen (on Postgres).
            .with_for_update(of=RefreshTokenFamily)
        )
    ).first()
    if row is None:
        raise InvalidRefreshToken("unknown")
    token, family = row
    if family.revoked_at is not None:
        raise InvalidRefreshToken(f"family {family.revoked_reason}")
    if token.used_at is not None:
        raise RefreshTokenReused(family.id)
    if token.expires_at <= now:
        raise InvalidRefreshToken("expired")
    unrevoked_families = select(RefreshTokenFamily.id).where(
        RefreshTokenFamily.revoked_at.is_(None)
    )
    spent = cast(
        CursorResult[tuple[()]],
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == token.id,
                RefreshToken.used_at.is_(None),
                # Where rows are not locked (SQLite), the write itself checks the family.
                RefreshToken.family_id.in_(unrevoked_families),
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ),
    )
    if spent.rowcount != 1:
        raise RefreshTokenReused(family.id)
    user = await session.get_one(User, family.user_id)
    successor = await _add_token(session, family, lifetimes, now)
    return Rotation(user=user, refresh_token=successor)


async def revoke_family(
    session: AsyncSession, family_id: uuid.UUID, *, reason: str, now: datetime
) -> None:
    await session.execute(
        update(RefreshTokenFamily)
        .where(RefreshTokenFamily.id == family_id, RefreshTokenFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


async def revoke_every_family_of(
    session: AsyncSession, user_id: uuid.UUID, *, reason: str, now: datetime
) -> int:
    """End every sign-in of the user: revoke each of its families; how many were not yet."""
    revoked = cast(
        CursorResult[tuple[()]],
        await session.execute(
            update(RefreshTokenFamily)
            .where(RefreshTokenFamily.user_id == user_id, RefreshTokenFamily.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
            .execution_options(synchronize_session=False)
        ),
    )
    return revoked.rowcount


async def revoke(session: AsyncSession, presented: str, *, now: datetime) -> uuid.UUID | None:
    """RFC 7009: revoke the family of `presented`; the family's id, or None if unknown."""
    family_id = await session.scalar(
        select(RefreshToken.family_id).where(
            RefreshToken.token_hash == hash_refresh_token(presented)
        )
    )
    if family_id is not None:
        await revoke_family(session, family_id, reason=REVOKED_BY_CLIENT, now=now)
    return family_id


async def delete_expired(session: AsyncSession, *, now: datetime, limit: int) -> int:
    """Forget up to `limit` tokens past their expiry (and so past any use), the earliest
    first, and the families they leave empty; how many tokens."""
    statement = batch_delete(
        RefreshToken.__table__,
        RefreshToken.expires_at <= now,
        order_by=[RefreshToken.expires_at],
        dialect_name=session.get_bind().dialect.name,
    ).returning(RefreshToken.family_id)
    families = (await session.execute(statement, {BATCH_SIZE: limit})).scalars().all()
    if families:
        await session.execute(
            delete(RefreshTokenFamily)
            .where(
                RefreshTokenFamily.id.in_(set(families)),
                ~exists().where(RefreshToken.family_id == RefreshTokenFamily.id),
            )
            .execution_options(synchronize_session=False)
        )
    return len(families)
