"""Problem type URIs resolve at the gateway, where clients meet them: public, and served by
the gateway itself (no service is asked)."""

from __future__ import annotations

import httpx

from tests.gateway.conftest import EchoUpstream


async def test_a_problem_type_resolves_at_the_gateway_without_a_token(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    refused = await gateway.get("/orders")

    described = await gateway.get(refused.json()["type"], headers={"Accept": "application/json"})

    assert refused.json()["type"] == "/problems/unauthorized"
    assert described.status_code == 200
    assert described.json()["title"] == refused.json()["title"]
    assert upstream.requests == []
