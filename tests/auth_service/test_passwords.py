from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher, extract_parameters
from pydantic import ValidationError
from sqlalchemy import select, update

from auth_service.app import create_app
from auth_service.config import AuthSettings
from auth_service.models import User
from auth_service.passwords import hashing_concurrency
from auth_service.users import replace_password_hash
from tests.auth_service.conftest import auth_app_client, register, request_token
from tests.auth_service.held_hasher import serving_held_passwords
from tests.support.database import session_on
from tests.support.servers import eventually, running_server


async def stored_hash(database_url: str) -> str:
    async with session_on(database_url) as session:
        return (await session.scalars(select(User.password_hash))).one()


def production_hashing(settings: AuthSettings) -> AuthSettings:
    """The real argon2id cost (the suite's fixture makes it cheap), with room for bursts."""
    defaults = AuthSettings()
    return settings.model_copy(
        update={
            "password_hash_time_cost": defaults.password_hash_time_cost,
            "password_hash_memory_kib": defaults.password_hash_memory_kib,
            "password_hash_parallelism": defaults.password_hash_parallelism,
            "login_max_attempts_per_account": 100,
        }
    )


PROC_STATUS = Path("/proc/self/status")
# Writing 5 resets the process's peak resident memory (VmHWM) to its current size (Linux).
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")


def resident_kib(field: str) -> int:
    """`VmRSS` (now) or `VmHWM` (the peak) of this process, in KiB."""
    line = next(line for line in PROC_STATUS.read_text().splitlines() if line.startswith(field))
    return int(line.split()[1])


def reset_peak_resident() -> None:
    PROC_CLEAR_REFS.write_text("5")


async def test_passwords_are_stored_as_argon2id_with_the_configured_parameters(
    auth_client: httpx.AsyncClient, auth_settings: AuthSettings, auth_database_url: str
) -> None:
    await register(auth_client)

    parameters = extract_parameters(await stored_hash(auth_database_url))
    assert parameters.type.name == "ID"
    assert parameters.time_cost == auth_settings.password_hash_time_cost
    assert parameters.memory_cost == auth_settings.password_hash_memory_kib


async def test_a_login_rehashes_a_password_hashed_with_older_parameters(
    auth_client: httpx.AsyncClient, auth_settings: AuthSettings, auth_database_url: str
) -> None:
    await register(auth_client)
    stronger = auth_settings.model_copy(
        update={"password_hash_time_cost": 2, "password_hash_memory_kib": 2048}
    )

    async with auth_app_client(stronger) as upgraded:
        first = await request_token(upgraded)
        rehashed = extract_parameters(await stored_hash(auth_database_url))
        second = await request_token(upgraded)

    assert first.status_code == second.status_code == 200
    assert (rehashed.time_cost, rehashed.memory_cost) == (2, 2048)


async def test_a_login_keeps_a_current_hash(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    await register(auth_client)
    before = await stored_hash(auth_database_url)

    assert (await request_token(auth_client)).status_code == 200
    assert await stored_hash(auth_database_url) == before


@pytest.mark.parametrize("request_kind", ["sign-in", "registration"])
async def test_a_request_waiting_on_its_password_hash_holds_no_database_connection(
    auth_settings: AuthSettings, request_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One connection: whatever else runs while the hash is held proves it was given back.
    settings = auth_settings.model_copy(
        update={
            "database_pool_size": 1,
            "database_max_overflow": 0,
            "database_pool_timeout_seconds": 10,
        }
    )
    _, hasher = serving_held_passwords(monkeypatch, concurrency=1)
    async with auth_app_client(settings) as client:
        await register(client)
        hasher.calls.clear()
        hasher.hold()
        hashing = asyncio.create_task(
            request_token(client)
            if request_kind == "sign-in"
            else register(client, "new@example.com")
        )
        await eventually(lambda: len(hasher.calls) == 1, "the held hash", seconds=10)
        readiness = await client.get("/health/ready")  # needs the connection
        hasher.stop_holding()
        response = await hashing

    assert readiness.status_code == 200
    assert response.status_code in (200, 201)


async def test_the_server_answers_while_a_password_is_being_hashed(
    auth_settings: AuthSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hashing on the server's event loop would stop it until the hash was let finish.
    _, hasher = serving_held_passwords(monkeypatch, concurrency=1)
    with running_server(create_app(auth_settings), lifespan="on") as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            await register(client)
            hasher.calls.clear()
            hasher.hold()
            login = asyncio.create_task(request_token(client))
            try:
                await eventually(lambda: len(hasher.calls) == 1, "the login to hash", seconds=30)
                async with asyncio.timeout(10):
                    health = await client.get("/health/live")
            finally:
                hasher.stop_holding()
            signed_in = await login

    assert health.status_code == 200
    assert signed_in.status_code == 200


async def test_an_unknown_email_costs_as_much_as_a_wrong_password(
    auth_settings: AuthSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    verify = PasswordHasher.verify

    def recording_verify(
        hasher: PasswordHasher, hash: str | bytes, password: str | bytes
    ) -> Literal[True]:
        verified.append(hash if isinstance(hash, str) else hash.decode())
        return verify(hasher, hash, password)

    async with auth_app_client(auth_settings) as client:
        await register(client)
        monkeypatch.setattr(PasswordHasher, "verify", recording_verify)
        wrong_password = await request_token(client, "user@example.com", "not the password")
        unknown_email = await request_token(client, "nobody@example.com", "not the password")

    assert (wrong_password.status_code, unknown_email.status_code) == (400, 400)
    # One argon2id verification each, of a hash made with the same cost: the same work, so
    # the same time (without the decoy an unknown email would answer ~100 times faster).
    account_hash, decoy_hash = verified
    assert decoy_hash != account_hash
    assert extract_parameters(decoy_hash) == extract_parameters(account_hash)


async def test_a_rehash_never_overwrites_a_password_changed_meanwhile(
    auth_client: httpx.AsyncClient, auth_database_url: str
) -> None:
    await register(auth_client)
    async with session_on(auth_database_url) as session:
        async with session.begin():
            user = (await session.scalars(select(User))).one()
        async with session_on(auth_database_url) as other, other.begin():
            await other.execute(update(User).values(password_hash="changed meanwhile"))

        async with session.begin():
            await replace_password_hash(session, user, "a fresh hash of the old password")

    assert await stored_hash(auth_database_url) == "changed meanwhile"


@pytest.mark.parametrize(
    ("budget_mib", "concurrency", "cores", "expected"),
    [
        (128, None, 2, 2),  # the defaults on 2 cores: two 64 MiB hashes
        (128, None, 16, 2),  # more cores do not stretch the budget
        (128, None, 1, 1),  # nor does the budget buy more hashes than cores
        (1024, None, 4, 4),
        (100, None, 8, 1),  # a budget holds whole hashes only
        (256, 3, 1, 3),  # an explicit concurrency is taken as it is (within the budget)
    ],
)
def test_the_hashing_concurrency_follows_the_memory_budget_and_the_cores(
    budget_mib: int, concurrency: int | None, cores: int, expected: int
) -> None:
    settings = AuthSettings(
        password_hash_memory_kib=65_536,
        password_hashing_memory_budget_mib=budget_mib,
        password_hashing_concurrency=concurrency,
    )

    assert hashing_concurrency(settings, cores) == expected


@pytest.mark.parametrize(
    ("budget_mib", "concurrency"),
    [
        (32, None),  # not even one 64 MiB hash
        (128, 4),  # four 64 MiB hashes: 256 MiB
    ],
)
def test_settings_whose_hashes_exceed_the_memory_budget_are_refused(
    budget_mib: int, concurrency: int | None
) -> None:
    with pytest.raises(ValidationError, match="AUTH_PASSWORD_HASHING_MEMORY_BUDGET_MIB"):
        AuthSettings(
            password_hash_memory_kib=65_536,
            password_hashing_memory_budget_mib=budget_mib,
            password_hashing_concurrency=concurrency,
        )


@pytest.mark.skipif(not PROC_CLEAR_REFS.exists(), reason="reads the peak memory from Linux's /proc")
async def test_a_burst_of_logins_takes_no_more_hashing_memory_than_the_budget(
    auth_settings: AuthSettings,
) -> None:
    settings = production_hashing(auth_settings)
    async with auth_app_client(settings) as client:
        await register(client)
        await request_token(client)  # the pool's threads and connections exist before we count
        before_kib = resident_kib("VmRSS")
        reset_peak_resident()
        responses = await asyncio.gather(*(request_token(client) for _ in range(8)))
        growth_kib = resident_kib("VmHWM") - before_kib

    assert [response.status_code for response in responses] == [200] * 8
    # Each hash in progress holds its whole 64 MiB; allow half a hash for everything else, so
    # that one hash more than the budget holds fails.
    budget_kib = settings.password_hashing_memory_budget_mib * 1024
    assert growth_kib < budget_kib + settings.password_hash_memory_kib // 2


async def test_the_start_up_log_says_how_many_hashes_run_at_once(
    auth_settings: AuthSettings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = auth_settings.model_copy(update={"password_hashing_concurrency": 3})

    with caplog.at_level(logging.INFO, logger="auth_service.app"):
        async with auth_app_client(settings):
            pass

    [record] = [r for r in caplog.records if r.getMessage() == "password_hashing_configured"]
    assert record.__dict__["concurrency"] == 3
