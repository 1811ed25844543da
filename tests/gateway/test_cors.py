from __future__ import annotations

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.gateway.conftest import EchoUpstream, gateway_client

ORIGIN = "https://shop.example"
PREFLIGHT = {
    "origin": ORIGIN,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type, idempotency-key",
}


def with_origins(settings: GatewaySettings, origins: str) -> GatewaySettings:
    return GatewaySettings.model_validate({**settings.model_dump(), "cors_allow_origins": origins})


async def test_an_allowed_origin_gets_its_preflight_answered(
    settings: GatewaySettings, upstream: EchoUpstream
) -> None:
    cors = with_origins(settings, f"{ORIGIN}, https://admin.example")
    async with gateway_client(create_app(cors)) as gateway:
        preflight = await gateway.options("/orders", headers=PREFLIGHT)
        response = await gateway.get("/auth/x", headers={"origin": ORIGIN})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
    assert preflight.headers["x-request-id"]  # answered inside the request context
    assert preflight.headers["server-timing"].startswith("auth;dur=0.0, upstream;dur=0.0, total")
    assert upstream.requests[-1]["method"] == "GET"  # the preflight itself never went upstream
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "etag" in response.headers["access-control-expose-headers"].lower()


async def test_other_origins_get_no_cors_headers(
    settings: GatewaySettings, upstream: EchoUpstream
) -> None:
    cors = with_origins(settings, ORIGIN)
    async with gateway_client(create_app(cors)) as gateway:
        preflight = await gateway.options(
            "/orders", headers={**PREFLIGHT, "origin": "https://evil.example"}
        )

    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 400
    assert preflight.headers["content-type"] == "application/problem+json"
    assert "origin" in preflight.json()["detail"]


async def test_no_origin_is_allowed_by_default(
    settings: GatewaySettings, upstream: EchoUpstream
) -> None:
    async with gateway_client(create_app(settings)) as gateway:
        response = await gateway.get("/auth/x", headers={"origin": ORIGIN})

    assert "access-control-allow-origin" not in response.headers


async def test_a_browser_may_send_its_own_request_id(
    settings: GatewaySettings, upstream: EchoUpstream
) -> None:
    async with gateway_client(create_app(with_origins(settings, ORIGIN))) as gateway:
        preflight = await gateway.options(
            "/orders", headers={**PREFLIGHT, "access-control-request-headers": "x-request-id"}
        )

    assert preflight.status_code == 200
    assert "x-request-id" in preflight.headers["access-control-allow-headers"].lower()
