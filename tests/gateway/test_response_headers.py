"""The headers gateway answers carry: `X-Content-Type-Options: nosniff` on every one, exactly
once, whoever made it; `Cache-Control: no-store` on the gateway's own problems, and on the
services' personal answers as they sent it."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.gateway.conftest import EchoUpstream, dead_url, gateway_client, gateway_settings
from tests.support.tokens import TokenFactory


async def test_a_proxied_answer_says_nosniff_once_though_its_upstream_said_it_too(
    each_upstream_transport: str, gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    response = await gateway.get("/auth/anything")

    assert response.status_code == 200
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


async def test_a_proxied_answer_says_nosniff_when_its_upstream_did_not(
    gateway: httpx.AsyncClient, upstream: EchoUpstream, tokens: TokenFactory
) -> None:
    response = await gateway.get(
        "/orders/stream", headers={"authorization": f"Bearer {tokens.issue()}"}
    )

    assert response.status_code == 200
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/orders", {}, 401),
        ("GET", "/orders", {"authorization": "Bearer not-a-token"}, 401),
        ("GET", "/nowhere", {}, 404),
        ("DELETE", "/docs", {}, 405),
        ("TRACE", "/auth/register", {}, 405),
        ("GET", "/auth/%2e%2e/metrics", {}, 400),
        ("POST", "/auth/register", {"content-length": "2000000"}, 413),
    ],
)
async def test_the_gateways_own_problems_say_nosniff_and_are_never_stored(
    gateway: httpx.AsyncClient,
    upstream: EchoUpstream,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
) -> None:
    response = await gateway.request(method, path, headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert response.headers.get_list("cache-control") == ["no-store"]


async def test_an_unreachable_upstreams_502_says_nosniff_and_is_never_stored(
    settings: GatewaySettings, tokens: TokenFactory
) -> None:
    app = create_app(settings.model_copy(update={"orders_url": dead_url()}))
    async with gateway_client(app) as gateway:
        response = await gateway.get(
            "/orders", headers={"authorization": f"Bearer {tokens.issue()}"}
        )

    assert response.status_code == 502
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert response.headers.get_list("cache-control") == ["no-store"]


async def test_a_spent_rate_limits_429_says_nosniff_and_is_never_stored(
    settings: GatewaySettings, upstream: EchoUpstream
) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_burst": 1}))
    async with gateway_client(app) as gateway:
        await gateway.get("/auth/anything")
        response = await gateway.get("/auth/anything")

    assert response.status_code == 429
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert response.headers.get_list("cache-control") == ["no-store"]


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/metrics", "/docs"])
async def test_the_gateways_own_pages_say_nosniff(gateway: httpx.AsyncClient, path: str) -> None:
    response = await gateway.get(path)

    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


async def test_the_services_answers_reach_clients_unstored_and_saying_nosniff_once(
    real_auth_url: str, real_orders_url: str, jwks_url: str, tokens: TokenFactory
) -> None:
    settings = gateway_settings(
        auth_url=real_auth_url, orders_url=real_orders_url, jwks_url=jwks_url
    )
    admin = {"authorization": f"Bearer {tokens.issue(role='admin')}"}
    async with gateway_client(create_app(settings)) as gateway:
        account = {"email": "headers@example.com", "password": "a-long-password"}
        registered = await gateway.post("/auth/register", json=account)
        form = {
            "grant_type": "password",
            "username": account["email"],
            "password": account["password"],
        }
        granted = await gateway.post("/auth/token", data=form)
        user = {"authorization": f"Bearer {granted.json()['access_token']}"}
        me = await gateway.get("/auth/me", headers=user)
        product = await gateway.post(
            "/products",
            json={"sku": "HDR-1", "name": "Mug", "price": "1.00", "stock": 1},
            headers=admin,
        )
        items = {"items": [{"product_id": product.json()["id"], "quantity": 1}]}
        placed = await gateway.post("/orders", json=items, headers=user)
        shown = await gateway.get(placed.headers["location"], headers=user)

    personal = [registered, granted, me, placed, shown]
    assert [response.status_code for response in personal] == [201, 200, 200, 201, 200]
    assert all(r.headers.get_list("cache-control") == ["no-store"] for r in personal)
    assert all(
        r.headers.get_list("x-content-type-options") == ["nosniff"] for r in [*personal, product]
    )
    assert "cache-control" not in product.headers
