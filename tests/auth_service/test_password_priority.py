"""Sign-ins before registrations in the password hasher's queue, counted by queue position."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from auth_service.app import create_app
from auth_service.config import AuthSettings
from auth_service.passwords import Passwords, Priority
from tests.auth_service.conftest import PASSWORD, register, request_token
from tests.auth_service.held_hasher import HeldHasher, held_passwords, serving_held_passwords
from tests.support.servers import eventually, running_server


async def queued(passwords: Passwords, priority: Priority, count: int) -> None:
    await eventually(
        lambda: passwords.slots.waiting(priority) == count,
        f"{count} {priority.name} hash(es) queued",
        seconds=10,
    )


async def started(hasher: HeldHasher, count: int) -> None:
    await eventually(lambda: len(hasher.calls) == count, f"{count} hash(es) started", seconds=10)


async def test_a_sign_in_waits_only_for_the_hash_already_running() -> None:
    passwords, hasher = held_passwords(concurrency=1)
    stored = await passwords.hash("member's password", priority=Priority.SIGN_IN)
    hasher.calls.clear()
    hasher.hold()
    registrations = [
        asyncio.create_task(passwords.hash(f"new {number}", priority=Priority.NEW_PASSWORD))
        for number in range(4)
    ]
    await queued(passwords, Priority.NEW_PASSWORD, 3)

    sign_in = asyncio.create_task(passwords.verify(stored, "member's password"))
    await queued(passwords, Priority.SIGN_IN, 1)
    hasher.release()
    await started(hasher, 2)
    hasher.stop_holding()

    assert await sign_in
    await asyncio.gather(*registrations)
    assert hasher.calls == ["hash new 0", "verify member's password"] + [
        f"hash new {number}" for number in range(1, 4)
    ]


async def test_with_two_slots_a_sign_in_waits_for_no_registration() -> None:
    passwords, hasher = held_passwords(concurrency=2)
    stored = await passwords.hash("member's password", priority=Priority.SIGN_IN)
    hasher.calls.clear()
    hasher.hold()
    registrations = [
        asyncio.create_task(passwords.hash(f"new {number}", priority=Priority.NEW_PASSWORD))
        for number in range(4)
    ]
    await queued(passwords, Priority.NEW_PASSWORD, 3)  # one runs: registrations get one slot

    sign_in = asyncio.create_task(passwords.verify(stored, "member's password"))
    await started(hasher, 2)  # with the registration's hash still held
    hasher.stop_holding()

    assert await sign_in
    await asyncio.gather(*registrations)
    assert hasher.calls[:2] == ["hash new 0", "verify member's password"]


async def test_a_sign_in_overtakes_a_registration_flood_through_the_server(
    auth_settings: AuthSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passwords, hasher = serving_held_passwords(monkeypatch, concurrency=1)
    app = create_app(auth_settings)
    with running_server(app, lifespan="on") as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            await register(client, "member@example.com")
            hasher.calls.clear()
            hasher.hold()
            flood = [
                asyncio.create_task(register(client, f"new{number}@example.com", "flood password"))
                for number in range(8)
            ]
            await queued(passwords, Priority.NEW_PASSWORD, 7)

            sign_in = asyncio.create_task(request_token(client, "member@example.com"))
            await queued(passwords, Priority.SIGN_IN, 1)
            hasher.release()
            await started(hasher, 2)
            hasher.stop_holding()
            signed_in = await sign_in
            registered = await asyncio.gather(*flood)

    assert signed_in.status_code == 200
    assert [response.status_code for response in registered] == [201] * 8
    # The sign-in waited for the one hash that was running, not for the seven queued before it.
    assert hasher.calls[:2] == ["hash flood password", f"verify {PASSWORD}"]
