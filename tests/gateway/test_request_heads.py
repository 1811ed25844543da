"""The gateway's own door, served as in production: oversized heads, the Host rules and slow
clients are refused before the app, and hundreds of slow clients do not keep others out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.raw_http import (
    address_of,
    exchange,
    parse_response,
    read_until_closed,
    trickle_head,
)
from tests.support.servers import eventually, production_config, running_uvicorn

TRICKLING_CONNECTIONS = 500


@pytest.fixture
def door(settings: GatewaySettings) -> Iterator[tuple[str, uvicorn.Server]]:
    # Long enough that 500 connections are open at once on a busy machine, short enough to
    # wait out.
    settings = settings.model_copy(update={"request_head_timeout_seconds": 5.0})
    with running_uvicorn(production_config(create_app(settings), settings)) as served:
        yield served


def test_an_oversized_head_is_a_431_problem_with_the_clients_request_id(
    door: tuple[str, uvicorn.Server],
) -> None:
    base_url, _ = door
    head = b"GET /orders HTTP/1.1\r\nHost: gateway\r\nX-Request-ID: trace-me\r\n"

    response = exchange(base_url, head + b"Cookie: " + b"c" * 1024 * 1024 + b"\r\n\r\n").response

    assert response.status == 431
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-me"
    assert response.json() == {
        "type": "/problems/request-header-fields-too-large",
        "title": "Request Header Fields Too Large",
        "status": 431,
        "detail": "The request head is larger than 32768 bytes.",
        "request_id": "trace-me",
    }


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"GET /health/live HTTP/1.1\r\nHost: gateway\r\nHost: evil\r\n", 400),
        (b"GET /health/live HTTP/1.1\r\n", 400),
        (b"GET /health/live HTTP/1.0\r\n", 200),
        (b"GET /health/live HTTP/1.1\r\nHost: gateway\r\n", 200),
    ],
    ids=["two hosts", "no host on 1.1", "no host on 1.0", "one host"],
)
def test_the_host_rules(door: tuple[str, uvicorn.Server], request_head: bytes, status: int) -> None:
    base_url, _ = door

    response = exchange(base_url, request_head + b"Connection: close\r\n\r\n").response

    assert response.status == status
    if status == 400:
        assert response.headers["content-type"] == "application/problem+json"


async def test_hundreds_of_trickling_connections_leave_the_gateway_serving_others(
    door: tuple[str, uvicorn.Server],
) -> None:
    base_url, server = door
    connections = [
        await asyncio.open_connection(*address_of(base_url)) for _ in range(TRICKLING_CONNECTIONS)
    ]
    trickles = [asyncio.create_task(trickle_head(writer, 0.5)) for _, writer in connections]
    try:
        await eventually(
            lambda: len(server.server_state.connections) >= TRICKLING_CONNECTIONS,
            "the trickling connections to be open",
            seconds=30,
        )
        async with httpx.AsyncClient(base_url=base_url) as client:
            response = await client.get("/health/live")

        assert response.status_code == 200
        async with asyncio.timeout(60):
            answers = await asyncio.gather(*(read_until_closed(r) for r, _ in connections))
        # Each one cut off once its head's time was up, and nothing left open.
        assert {parse_response(answer).status for answer in answers} == {408}
        await eventually(lambda: not server.server_state.connections, "every connection closed")
    finally:
        for trickle in trickles:
            trickle.cancel()
        for _, writer in connections:
            writer.close()
