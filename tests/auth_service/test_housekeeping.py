"""The auth service's clean-up: expired refresh tokens (and the families they leave empty) and
attempt counters past their window, each in batches of their own transactions; and the
service running it on its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from auth_service import refresh_tokens
from auth_service.config import AuthSettings
from auth_service.housekeeping import delete_expired_records, in_batches
from auth_service.login_throttle import LoginThrottle
from auth_service.models import LoginAttempts, RefreshToken, RefreshTokenFamily, User
from shared.database import create_engine, create_sessionmaker
from shared.settings import DatabaseSettings
from tests.auth_service.conftest import auth_app_client

NOW = datetime.now(UTC)
EXPIRED = NOW - timedelta(seconds=1)
LIVE = NOW + timedelta(hours=1)


@pytest.fixture
async def engine(auth_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(DatabaseSettings(database_url=auth_database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


def count_commits(engine: AsyncEngine) -> list[object]:
    commits: list[object] = []
    event.listen(engine.sync_engine, "commit", commits.append)
    return commits


async def add_families(
    sessionmaker: async_sessionmaker[AsyncSession], *token_expiries: list[datetime]
) -> list[uuid.UUID]:
    """A user with a family for each list of expiries, a token for each; the families' ids."""
    families = [RefreshTokenFamily(id=uuid.uuid4(), created_at=NOW) for _ in token_expiries]
    async with sessionmaker() as session, session.begin():
        user = User(email=f"{uuid.uuid4().hex}@example.com", password_hash="-")
        session.add(user)
        await session.flush()
        for family, expiries in zip(families, token_expiries, strict=True):
            family.user_id = user.id
            session.add(family)
            await session.flush()
            session.add_all(
                RefreshToken(family_id=family.id, token_hash=uuid.uuid4().hex, expires_at=at)
                for at in expiries
            )
    return [family.id for family in families]


async def count(sessionmaker: async_sessionmaker[AsyncSession], column: Any) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count(column))) or 0)


async def test_a_backlog_of_expired_tokens_is_deleted_in_batches_with_their_empty_families(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_families(sessionmaker, *([[EXPIRED]] * 35))
    [kept] = await add_families(sessionmaker, [EXPIRED, LIVE])
    commits = count_commits(engine)

    async def tokens(session: AsyncSession, limit: int) -> int:
        return await refresh_tokens.delete_expired(session, now=NOW, limit=limit)

    deleted = await in_batches(sessionmaker, tokens, 10)()

    assert deleted.batches == (10, 10, 10, 6)
    assert len(commits) == 4
    async with sessionmaker() as session:
        assert (await session.scalars(select(RefreshTokenFamily.id))).all() == [kept]
        assert (await session.scalars(select(RefreshToken.expires_at))).all() == [LIVE]


async def test_a_backlog_of_expired_counters_is_deleted_in_batches(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    auth_settings: AuthSettings,
) -> None:
    counters = LoginThrottle.from_settings(auth_settings).counters
    over = NOW - counters.window - timedelta(seconds=1)
    async with sessionmaker() as session, session.begin():
        session.add_all(
            LoginAttempts(key=f"{index:064}", attempts=1, window_started_at=over)
            for index in range(35)
        )
        session.add(LoginAttempts(key="live".rjust(64, "0"), attempts=1, window_started_at=NOW))
    commits = count_commits(engine)

    deleted = await delete_expired_records(sessionmaker, [counters], batch_size=10)

    assert deleted == {"refresh_tokens": 0, "login_attempts": 35}
    # One for the tokens (none), four for the counters.
    assert len(commits) == 5
    assert await count(sessionmaker, LoginAttempts.key) == 1


async def test_the_service_cleans_up_on_its_own_at_its_settings_pace(
    auth_settings: AuthSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_families(sessionmaker, *([[EXPIRED]] * 25))
    settings = auth_settings.model_copy(
        update={"housekeeping_batch_size": 10, "housekeeping_database_share": 0.4}
    )
    shares: list[float] = []

    def no_pause(batch_seconds: float, database_share: float) -> float:
        shares.append(database_share)
        return 0.0

    monkeypatch.setattr("shared.batched_delete.pause_after", no_pause)

    # The first round runs as the service starts.
    async with auth_app_client(settings) as client:
        async with asyncio.timeout(20):
            # Polled: the service cleans up in a task of its own, in the database.
            while await count(sessionmaker, RefreshToken.id):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert (await client.get("/health/ready")).status_code == 200

    assert await count(sessionmaker, RefreshTokenFamily.id) == 0
    # 25 tokens in batches of 10: two pauses, at the settings' share.
    assert shares == [0.4, 0.4]
