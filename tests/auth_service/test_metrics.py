from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from auth_service.config import AuthSettings
from tests.auth_service.conftest import auth_app_client, refresh, register, request_token


async def counts(client: httpx.AsyncClient, name: str) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    [family] = [family for family in text_string_to_metric_families(text) if family.name == name]
    return {
        sample.labels["outcome"]: sample.value
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def test_logins_are_counted_by_outcome(auth_settings: AuthSettings) -> None:
    settings = auth_settings.model_copy(update={"login_max_attempts_per_account": 2})
    async with auth_app_client(settings) as client:
        await register(client)
        await request_token(client)
        await request_token(client, password="wrong password")
        await request_token(client, password="wrong password")
        await request_token(client, password="wrong password")

        assert await counts(client, "auth_logins") == {
            "success": 1,
            "invalid_credentials": 2,
            "throttled": 1,
        }


async def test_registrations_are_counted_by_outcome(auth_settings: AuthSettings) -> None:
    settings = auth_settings.model_copy(update={"registration_max_per_address": 2})
    async with auth_app_client(settings) as client:
        await register(client)
        await register(client)
        await register(client, "third@example.com")

        assert await counts(client, "auth_registrations") == {
            "created": 1,
            "email_taken": 1,
            "throttled": 1,
        }


async def test_refreshes_are_counted_by_outcome(auth_client: httpx.AsyncClient) -> None:
    await register(auth_client)
    token = (await request_token(auth_client)).json()["refresh_token"]
    await refresh(auth_client, token)
    await refresh(auth_client, token)
    await refresh(auth_client, "unknown")

    assert await counts(auth_client, "auth_refreshes") == {"success": 1, "reused": 1, "invalid": 1}
