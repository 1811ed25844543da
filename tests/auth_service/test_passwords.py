from __future__ import annotations

import asyncio
import logging
import statistics
import time
from pathlib import Path

import httpx
import pytest
from argon2 import extract_parameters
from pydantic import ValidationError
from sqlalchemy import select, update

from auth_service.app import create_app
from auth_service.config import AuthSettings
from auth_service.models import User
from auth_service.passwords import hashing_concurrency
from auth_service.users import replace_password_hash
from tests.auth_service.conftest import auth_app_client, register, request_token
from tests.auth_service.held_hasher import held_passwords
from tests.support.apps import app_client
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
    auth_settings: AuthSettings, request_kind: str
) -> None:
    # One connection: whatever else runs while the hash is held proves it was given back.
    settings = auth_settings.model_copy(
        update={
            "database_pool_size": 1,
            "database_max_overflow": 0,
            "database_pool_timeout_seconds": 10,
        }
    )
    app = create_app(settings)
    async with app_client(app, "http://auth.test") as client:
        await register(client)
        passwords, hasher = held_passwords(concurrency=1)
        app.state.passwords = passwords
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


async def test_health_stays_fast_during_a_burst_of_20_logins(
    auth_settings: AuthSettings,
) -> None:
    app = create_app(production_hashing(auth_settings))
    with running_server(app, lifespan="on") as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            await register(client)

            async def timed_login() -> tuple[float, int]:
                started = time.perf_counter()
                response = await request_token(client)
                return time.perf_counter() - started, response.status_code

            lone_login, _ = await timed_login()
            logins = [asyncio.create_task(timed_login()) for _ in range(20)]
            health_latencies = []
            while not all(login.done() for login in logins):
                started = time.perf_counter()
                health = await client.get("/health/live")
                health_latencies.append(time.perf_counter() - started)
                assert health.status_code == 200
            results = await asyncio.gather(*logins)

    assert [status for _, status in results] == [200] * 20
    # Hashing on the server's event loop would hold every health check that arrives during
    # a hash up for the rest of it: the slowest tenth would take about a whole hash.
    assert len(health_latencies) >= 20
    slowest_tenth = statistics.quantiles(health_latencies, n=10)[-1]
    assert slowest_tenth < lone_login / 2


async def test_an_unknown_email_costs_as_much_as_a_wrong_password(
    auth_settings: AuthSettings,
) -> None:
    async with auth_app_client(production_hashing(auth_settings)) as client:
        await register(client)

        async def duration(email: str) -> float:
            started = time.perf_counter()
            response = await request_token(client, email, "not the password")
            assert response.status_code == 400
            return time.perf_counter() - started

        wrong_password, unknown_email = [], []
        for _ in range(5):  # interleaved, so that both see the same machine load
            wrong_password.append(await duration("user@example.com"))
            unknown_email.append(await duration("nobody@example.com"))

    # Without the decoy hash an unknown email would answer ~100 times faster.
    ratio = statistics.median(unknown_email) / statistics.median(wrong_password)
    assert 0.5 < ratio < 2


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
