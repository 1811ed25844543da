from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from tests.gateway.conftest import EchoUpstream, dead_url, gateway_client, gateway_settings
from tests.support.tokens import TokenFactory


@pytest.mark.parametrize("path", ["/orders", "/orders/123", "/products", "/products/9"])
async def test_protected_routes_without_a_token_are_401_and_never_reach_upstream(
    gateway: httpx.AsyncClient, upstream: EchoUpstream, path: str
) -> None:
    response = await gateway.get(path)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["server-timing"].startswith("auth;dur=")
    assert "upstream;dur=0.0" in response.headers["server-timing"]  # it never went upstream
    assert upstream.requests == []


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer "],
    ids=["garbage", "basic", "empty"],
)
async def test_unusable_credentials_are_401(
    gateway: httpx.AsyncClient, upstream: EchoUpstream, authorization: str
) -> None:
    response = await gateway.get("/orders", headers={"authorization": authorization})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert upstream.requests == []


async def test_an_expired_token_is_401_invalid_token(
    gateway: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    token = tokens.issue(ttl_seconds=60, now=datetime.now(UTC) - timedelta(hours=1))

    response = await gateway.get("/orders", headers={"authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer error="invalid_token", error_description="token expired"'
    )


async def test_upstreams_get_the_verified_identity_never_the_clients_claim(
    gateway: httpx.AsyncClient, upstream: EchoUpstream, tokens: TokenFactory
) -> None:
    user_id = uuid.uuid4()
    token = tokens.issue(user_id, "user")

    response = await gateway.get(
        "/orders",
        headers={
            "authorization": f"Bearer {token}",
            "x-user-id": str(uuid.uuid4()),
            "x-user-role": "admin",
        },
    )

    assert response.status_code == 200
    headers = upstream.headers_of()
    assert [value for name, value in headers if name == "x-user-id"] == [str(user_id)]
    assert [value for name, value in headers if name == "x-user-role"] == ["user"]
    # Upstreams verify the token themselves too.
    assert ("authorization", f"Bearer {token}") in headers


async def test_identity_headers_sent_to_public_routes_are_stripped(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    await gateway.get("/auth/me", headers={"x-user-id": "someone", "x-user-role": "admin"})

    names = {name for name, _ in upstream.headers_of()}
    assert not names & {"x-user-id", "x-user-role"}


async def test_ready_only_once_verification_keys_are_loaded(
    gateway: httpx.AsyncClient, upstream_url: str
) -> None:
    assert (await gateway.get("/health/ready")).status_code == 200

    app = create_app(gateway_settings(auth_url=upstream_url, jwks_url=f"{dead_url()}/jwks"))
    async with gateway_client(app) as keyless:
        live = await keyless.get("/health/live")
        ready = await keyless.get("/health/ready")

    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"verification_keys": "RuntimeError"}


async def test_gateway_metrics_label_proxied_requests_by_route(
    gateway: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    auth = {"authorization": f"Bearer {tokens.issue()}"}
    await gateway.get("/orders/1", headers=auth)
    await gateway.get("/orders/2", headers=auth)

    metrics = (await gateway.get("/metrics")).text

    assert (
        'http_requests_total{method="GET",route="/orders/{path:path}",status="200"} 2.0' in metrics
    )


async def test_authentication_failures_are_counted_by_reason(
    gateway: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    expired = tokens.issue(now=datetime.now(UTC) - timedelta(hours=1))
    await gateway.get("/orders")
    await gateway.get("/orders", headers={"authorization": f"Bearer {expired}"})
    await gateway.get("/orders", headers={"authorization": f"Bearer {expired}"})

    text = (await gateway.get("/metrics")).text
    counts = {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "gateway_auth_failures"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert counts == {"missing token": 1, "token expired": 2}
