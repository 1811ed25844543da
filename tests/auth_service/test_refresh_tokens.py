from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_service.config import AuthSettings
from auth_service.housekeeping import delete_expired_records
from auth_service.models import RefreshToken, RefreshTokenFamily, User
from auth_service.refresh_tokens import (
    InvalidRefreshToken,
    Lifetimes,
    hash_refresh_token,
    revoke,
    rotate,
)
from shared.database import utc_now
from tests.auth_service.conftest import auth_app_client, refresh, request_token, sign_in
from tests.support.database import session_on


async def test_the_password_grant_returns_a_long_opaque_refresh_token(
    auth_client: httpx.AsyncClient,
) -> None:
    body = await sign_in(auth_client)

    token = body["refresh_token"]
    assert len(token) >= 43  # 256 bits, base64url
    assert token.count(".") == 0  # opaque, not a JWT


async def test_refresh_tokens_are_stored_only_as_their_hash(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    token = (await sign_in(auth_client))["refresh_token"]

    async with session_on(auth_database_url) as session:
        stored = (await session.scalars(select(RefreshToken))).all()
    assert [row.token_hash for row in stored] == [hashlib.sha256(token.encode()).hexdigest()]


async def test_a_refresh_rotates_the_refresh_token_and_issues_a_new_access_token(
    auth_client: httpx.AsyncClient,
) -> None:
    first = await sign_in(auth_client)

    response = await refresh(auth_client, first["refresh_token"])

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["token_type"] == "bearer"
    me = await auth_client.get(
        "/auth/me", headers={"authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status_code == 200


async def test_each_rotated_token_works_once_along_the_chain(
    auth_client: httpx.AsyncClient,
) -> None:
    token = (await sign_in(auth_client))["refresh_token"]

    for _ in range(3):
        response = await refresh(auth_client, token)
        assert response.status_code == 200
        token = response.json()["refresh_token"]


async def test_reusing_a_rotated_token_revokes_the_whole_family(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    stolen = (await sign_in(auth_client))["refresh_token"]
    successor = (await refresh(auth_client, stolen)).json()["refresh_token"]

    reuse = await refresh(auth_client, stolen)
    after_reuse = await refresh(auth_client, successor)

    assert reuse.status_code == after_reuse.status_code == 400
    assert reuse.json()["error"] == after_reuse.json()["error"] == "invalid_grant"
    async with session_on(auth_database_url) as session:
        family = await session.scalar(select(RefreshTokenFamily))
    assert family is not None
    assert family.revoked_reason == "reuse"


async def test_reuse_revokes_only_its_own_family(auth_client: httpx.AsyncClient) -> None:
    phone = (await sign_in(auth_client))["refresh_token"]
    laptop = (await request_token(auth_client)).json()["refresh_token"]
    phone_successor = (await refresh(auth_client, phone)).json()["refresh_token"]

    reuse = await refresh(auth_client, phone)

    assert reuse.status_code == 400
    assert (await refresh(auth_client, phone_successor)).status_code == 400
    assert (await refresh(auth_client, laptop)).status_code == 200


async def test_concurrent_uses_of_one_token_let_exactly_one_through_and_revoke_the_family(
    auth_settings: AuthSettings,
) -> None:
    async with auth_app_client(auth_settings) as client:
        token = (await sign_in(client))["refresh_token"]

        responses = await asyncio.gather(*(refresh(client, token) for _ in range(5)))

        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200, 400, 400, 400, 400]
        [winner] = [response for response in responses if response.status_code == 200]
        # The others were reuse: the winner's successor died with the family.
        assert (await refresh(client, winner.json()["refresh_token"])).status_code == 400


async def test_an_expired_refresh_token_is_refused(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    token = (await sign_in(auth_client))["refresh_token"]
    async with session_on(auth_database_url) as session, session.begin():
        await session.execute(
            update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    response = await refresh(auth_client, token)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_refresh_tokens_live_as_long_as_configured(
    auth_settings: AuthSettings, auth_database_url: str
) -> None:
    settings = auth_settings.model_copy(update={"refresh_token_ttl_seconds": 3600})
    async with auth_app_client(settings) as client:
        before = datetime.now(UTC)
        await sign_in(client)

    async with session_on(auth_database_url) as session:
        stored = await session.scalar(select(RefreshToken))
    assert stored is not None
    lifetime = stored.expires_at - before
    assert timedelta(seconds=3599) < lifetime < timedelta(seconds=3605)


def test_refresh_tokens_last_14_days_unused_and_a_sign_in_90_days_by_default() -> None:
    fields = AuthSettings.model_fields
    assert fields["refresh_token_ttl_seconds"].default == 14 * 24 * 3600
    assert fields["sign_in_max_age_seconds"].default == 90 * 24 * 3600


async def test_a_sign_in_ends_at_its_maximum_age_however_often_it_is_refreshed(
    auth_client: httpx.AsyncClient, auth_settings: AuthSettings, auth_database_url: str
) -> None:
    token = (await sign_in(auth_client))["refresh_token"]
    began = datetime.now(UTC) - timedelta(seconds=auth_settings.sign_in_max_age_seconds - 60)
    async with session_on(auth_database_url) as session, session.begin():
        await session.execute(update(RefreshTokenFamily).values(created_at=began))

    successor = (await refresh(auth_client, token)).json()["refresh_token"]

    async with session_on(auth_database_url) as session:
        stored = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == hash_refresh_token(successor))
        )
    assert stored is not None
    # Capped by the sign-in's end, not a fresh 14 days.
    assert stored.expires_at - datetime.now(UTC) < timedelta(seconds=61)


async def test_a_rotation_waits_for_a_revocation_in_progress_and_then_refuses(
    auth_client: httpx.AsyncClient, auth_settings: AuthSettings, auth_database_url: str
) -> None:
    token = (await sign_in(auth_client))["refresh_token"]

    async def rotate_in(session: AsyncSession) -> None:
        async with session.begin():
            await rotate(session, token, Lifetimes.from_settings(auth_settings), now=utc_now())

    async with session_on(auth_database_url) as revoking, session_on(auth_database_url) as rotating:
        async with revoking.begin():
            await revoke(revoking, token, now=utc_now())
            rotation = asyncio.create_task(rotate_in(rotating))
            await until_a_session_waits_for_a_lock(auth_database_url)
        with pytest.raises(InvalidRefreshToken):
            await rotation


async def until_a_session_waits_for_a_lock(database_url: str) -> None:
    async with session_on(database_url) as probe, asyncio.timeout(5):
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        while not await probe.scalar(waiting):
            await probe.commit()  # statistics are a snapshot per transaction


async def test_an_unknown_refresh_token_is_invalid_grant(auth_client: httpx.AsyncClient) -> None:
    response = await refresh(auth_client, "x" * 43)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_a_refresh_carries_the_accounts_current_role(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    token = (await sign_in(auth_client))["refresh_token"]
    async with session_on(auth_database_url) as session, session.begin():
        await session.execute(update(User).values(role="admin"))

    access_token = (await refresh(auth_client, token)).json()["access_token"]

    assert jwt.decode(access_token, options={"verify_signature": False})["role"] == "admin"


async def test_a_refresh_without_the_token_is_an_invalid_request(
    auth_client: httpx.AsyncClient,
) -> None:
    response = await auth_client.post("/auth/token", data={"grant_type": "refresh_token"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_housekeeping_deletes_expired_tokens_and_their_empty_families_only(
    auth_client: httpx.AsyncClient, auth_settings: AuthSettings, auth_database_url: str
) -> None:
    expired = (await sign_in(auth_client))["refresh_token"]
    valid = (await request_token(auth_client)).json()["refresh_token"]
    async with session_on(auth_database_url) as session, session.begin():
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh_token(expired))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    async with session_on(auth_database_url) as session:
        sessionmaker = async_sessionmaker(session.bind, expire_on_commit=False)
        await delete_expired_records(
            sessionmaker, [], batch_size=auth_settings.housekeeping_batch_size
        )

        [kept] = (await session.scalars(select(RefreshToken))).all()
        assert kept.token_hash == hash_refresh_token(valid)
        assert [family.id for family in await session.scalars(select(RefreshTokenFamily))] == [
            kept.family_id
        ]
