from __future__ import annotations

import asyncio

import pytest
from fastapi import Request

from tests.shared.conftest import build_frame_app, client_for


async def _passes(_: Request) -> None:
    return None


async def _fails(_: Request) -> None:
    raise ConnectionError("database down")


async def test_live_answers_without_checking_dependencies() -> None:
    async with client_for(build_frame_app({"database": _fails})) as client:
        response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_every_check_passes() -> None:
    async with client_for(build_frame_app({"database": _passes})) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


async def test_not_ready_is_a_503_problem_naming_the_failing_check() -> None:
    app = build_frame_app({"database": _passes, "keys": _fails})
    async with client_for(app) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"] == {"database": "ok", "keys": "ConnectionError"}


async def test_a_hanging_check_fails_instead_of_hanging_the_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shared.health.CHECK_TIMEOUT_SECONDS", 0.05)
    never = asyncio.Event()

    async def hangs(_: Request) -> None:
        await never.wait()

    async with client_for(build_frame_app({"database": hangs})) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "timed out"}
