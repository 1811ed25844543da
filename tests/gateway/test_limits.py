"""Request bodies over the limit get 413, whether their length was declared or not."""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.gateway.conftest import EchoUpstream, gateway_client


def limited(settings: GatewaySettings) -> GatewaySettings:
    return settings.model_copy(update={"max_body_bytes": 1000})


async def test_a_declared_body_over_the_limit_is_413_and_never_sent_upstream(
    settings: GatewaySettings, upstream: EchoUpstream
) -> None:
    async with gateway_client(create_app(limited(settings))) as gateway:
        response = await gateway.post("/auth/register", content=b"x" * 1001)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert upstream.requests == []


async def test_a_chunked_body_over_the_limit_is_413(
    settings: GatewaySettings, upstream: EchoUpstream
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"y" * 300

    async with gateway_client(create_app(limited(settings))) as gateway:
        response = await gateway.post("/auth/register", content=chunks())

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert upstream.requests == []  # the upstream never got a whole request


async def test_a_body_at_the_limit_passes(
    settings: GatewaySettings, upstream: EchoUpstream
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"z" * 250

    async with gateway_client(create_app(limited(settings))) as gateway:
        declared = await gateway.post("/auth/register", content=b"x" * 1000)
        streamed = await gateway.post("/auth/register", content=chunks())

    assert (declared.status_code, streamed.status_code) == (200, 200)
    assert [len(seen["body"]) for seen in upstream.requests] == [1000, 1000]


def test_the_default_limit_is_one_mebibyte() -> None:
    assert GatewaySettings.model_fields["max_body_bytes"].default == 1024 * 1024
