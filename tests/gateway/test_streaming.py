"""A 100 MB download passes through the gateway without the gateway holding it."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.app import create_app
from tests.gateway.conftest import gateway_settings
from tests.support.servers import running_server

CHUNK = b"\x5a" * (64 * 1024)
SIZE = 100 * 1024 * 1024


async def _download(_: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(SIZE // len(CHUNK)):
            yield CHUNK  # the same object each time: the upstream itself holds 64 KiB

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@pytest.fixture
def gateway_url(jwks_url: str) -> Iterator[str]:
    upstream = Starlette(routes=[Route("/auth/download", _download)])
    with running_server(upstream) as upstream_url:
        settings = gateway_settings(
            auth_url=upstream_url, orders_url=upstream_url, jwks_url=jwks_url
        )
        with running_server(create_app(settings), lifespan="on") as url:
            yield url


def test_a_100_mb_download_streams_through_in_bounded_memory(gateway_url: str) -> None:
    received = 0
    tracemalloc.start()
    try:
        with httpx.stream("GET", f"{gateway_url}/auth/download", timeout=60) as response:
            for chunk in response.iter_raw():
                received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 200
    assert received == SIZE
    # Upstream, gateway and client share this process; a buffering gateway would need 100 MB.
    assert peak < 16 * 1024 * 1024
