from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.headers import client_response_headers
from tests.gateway.conftest import (
    EchoUpstream,
    dead_url,
    gateway_client,
    gateway_settings,
    raw_request,
)
from tests.support.tokens import TokenFactory

# The proxy keeps these promises whichever transport sends its requests.
pytestmark = pytest.mark.usefixtures("each_upstream_transport")


def _named(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for header, value in headers if header == name]


async def test_public_routes_are_proxied_without_a_token(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    response = await gateway.post("/auth/register", json={"email": "a@example.com"})

    assert response.status_code == 200
    assert response.json()["method"] == "POST"
    assert response.json()["raw_path"] == "/auth/register"
    assert response.json()["body"] == '{"email":"a@example.com"}'


async def test_path_query_and_repeated_headers_arrive_exactly_as_sent(
    gateway: httpx.AsyncClient, upstream: EchoUpstream, tokens: TokenFactory
) -> None:
    response = await gateway.get(
        "/orders/a%20b/%C3%A9?x=1&x=2&y=%C3%A9&empty=",
        headers=[
            ("authorization", f"Bearer {tokens.issue()}"),
            ("x-multi", "one"),
            ("x-multi", "two"),
        ],
    )

    seen = response.json()
    assert seen["raw_path"] == "/orders/a%20b/%C3%A9"
    assert seen["query"] == "x=1&x=2&y=%C3%A9&empty="
    assert _named(upstream.headers_of(), "x-multi") == ["one", "two"]


async def test_request_bodies_pass_byte_for_byte(
    gateway: httpx.AsyncClient, upstream: EchoUpstream, tokens: TokenFactory
) -> None:
    body = bytes(range(256))

    response = await gateway.post(
        "/orders", content=body, headers={"authorization": f"Bearer {tokens.issue()}"}
    )

    assert response.json()["body"].encode("latin-1") == body


async def test_repeated_response_headers_are_kept(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/auth/anything")

    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]


async def test_hop_by_hop_headers_are_dropped_both_ways(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    response = await gateway.get(
        "/auth/anything",
        headers={
            "connection": "keep-alive, x-client-private",
            "x-client-private": "secret",
            "keep-alive": "timeout=5",
            "te": "trailers",
            "upgrade": "websocket",
            "proxy-authorization": "Basic Zm9vOmJhcg==",
        },
    )

    sent_upstream = {name for name, _ in upstream.headers_of()}
    assert not sent_upstream & {
        "x-client-private",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
    }
    assert "x-upstream-private" not in response.headers
    assert response.headers["x-request-id"] != "upstream-made-this-up"


async def test_forwarding_headers_are_the_gateways_own(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    await gateway.get(
        "/auth/anything",
        headers={
            "x-forwarded-for": "10.9.9.9",
            "x-forwarded-host": "evil.test",
            "forwarded": "for=10.9.9.9",
        },
    )

    headers = upstream.headers_of()
    assert _named(headers, "x-forwarded-for") == ["203.0.113.7"]
    assert _named(headers, "x-forwarded-proto") == ["http"]
    assert _named(headers, "x-forwarded-host") == ["gateway.test"]
    assert _named(headers, "forwarded") == []


async def test_the_request_id_travels_upstream_and_back(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    given = await gateway.get("/auth/anything", headers={"x-request-id": "trace-7"})
    made = await gateway.get("/auth/anything")

    assert given.headers["x-request-id"] == "trace-7"
    assert _named(upstream.headers_of(0), "x-request-id") == ["trace-7"]
    assert _named(upstream.headers_of(1), "x-request-id") == [made.headers["x-request-id"]]


async def test_responses_carry_server_timing(
    gateway: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    response = await gateway.get("/orders", headers={"authorization": f"Bearer {tokens.issue()}"})

    timing = dict(
        part.strip().split(";dur=") for part in response.headers["server-timing"].split(",")
    )
    assert set(timing) == {"auth", "upstream", "total"}
    assert all(float(value) >= 0 for value in timing.values())


async def test_responses_stream_through_without_being_buffered(
    live_gateway: str, upstream: EchoUpstream, tokens: TokenFactory
) -> None:
    auth = {"authorization": f"Bearer {tokens.issue()}"}
    try:
        async with (
            httpx.AsyncClient(base_url=live_gateway) as client,
            client.stream("GET", "/orders/gated", headers=auth) as response,
        ):
            chunks = response.aiter_raw()
            # The upstream holds the rest back until the first chunk has reached the client.
            first = await asyncio.wait_for(anext(chunks), timeout=5)
            upstream.gate.set()
            rest = b"".join([chunk async for chunk in chunks])
    finally:
        upstream.gate.set()

    assert first + rest == b"first chunk;the rest"


async def test_an_upstream_connection_is_kept_for_the_next_request(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    for _ in range(3):
        assert (await gateway.get("/auth/anything")).status_code == 200

    assert len({seen["client_port"] for seen in upstream.requests}) == 1


async def test_an_upstream_answering_before_the_body_is_in_still_gets_all_of_it(
    gateway: httpx.AsyncClient, upstream: EchoUpstream, tokens: TokenFactory
) -> None:
    async def slow_body() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 1000
            await asyncio.sleep(0.05)  # a slow client: the upstream answers in between

    response = await gateway.post(
        "/orders/early",
        content=slow_body(),
        headers={"authorization": f"Bearer {tokens.issue()}"},
    )

    assert response.text == "early;read 3000"


async def test_a_download_stops_upstream_when_its_client_goes_away(
    live_gateway: str, upstream: EchoUpstream, tokens: TokenFactory
) -> None:
    auth = {"authorization": f"Bearer {tokens.issue()}"}
    async with (
        httpx.AsyncClient(base_url=live_gateway) as client,
        client.stream("GET", "/orders/endless", headers=auth) as response,
    ):
        await asyncio.wait_for(anext(response.aiter_raw()), timeout=5)
    # The client is gone; the gateway must not go on reading an endless body for nobody.

    assert await asyncio.to_thread(upstream.endless_stopped.wait, 10)


@pytest.mark.parametrize(
    "path",
    ["/auth/../metrics", "/auth/../../health/ready", "/.well-known/../orders/x", "/orders/./x"],
)
def test_dot_segments_cannot_escape_a_route(
    live_gateway: str, upstream: EchoUpstream, path: str
) -> None:
    status, answer = raw_request(live_gateway, f"GET {path} HTTP/1.1")

    assert status == 400
    assert b"application/problem+json" in answer
    assert upstream.requests == []


async def test_encoded_dot_segments_cannot_escape_a_route(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    response = await gateway.get("/auth/%2e%2e/metrics")

    assert response.status_code == 400
    assert upstream.requests == []


def test_the_gateway_adds_no_headers_of_its_http_client(
    live_gateway: str, upstream: EchoUpstream
) -> None:
    status, _ = raw_request(live_gateway, "GET /auth/anything HTTP/1.1")

    assert status == 200
    sent_upstream = {name for name, _ in upstream.headers_of()}
    assert not sent_upstream & {"accept", "accept-encoding", "user-agent"}


async def test_the_gateway_adds_no_content_type_to_a_body_sent_without_one(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    response = await gateway.post("/auth/anything", content=b"raw bytes")

    assert response.status_code == 200
    assert "content-type" not in {name for name, _ in upstream.headers_of()}


async def test_cookies_an_upstream_sets_are_not_kept_for_other_requests(
    upstream: EchoUpstream, upstream_url: str, jwks_url: str
) -> None:
    # By name: HTTP clients keep no cookies for bare IP addresses anyway.
    by_name = upstream_url.replace("127.0.0.1", "localhost")
    settings = gateway_settings(auth_url=by_name, orders_url=by_name, jwks_url=jwks_url)
    async with gateway_client(create_app(settings)) as gateway:
        first = await gateway.get("/auth/anything")  # the upstream answers with Set-Cookie
        gateway.cookies.clear()  # the test's client keeps them; the next client has none
        second = await gateway.get("/auth/anything")

    assert first.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert second.status_code == 200
    assert "cookie" not in {name for name, _ in upstream.headers_of()}


async def test_a_streamed_response_arrives_whole(
    gateway: httpx.AsyncClient, tokens: TokenFactory
) -> None:
    response = await gateway.get(
        "/orders/stream", headers={"authorization": f"Bearer {tokens.issue()}"}
    )

    assert response.status_code == 200
    assert len(response.content) == 100 * 1024


async def test_an_unknown_path_is_a_404_problem(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/nothing/here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["server-timing"].startswith(
        "auth;dur=0.0, upstream;dur=0.0, total;dur="
    )


async def test_an_unreachable_upstream_is_a_502_problem(jwks_url: str) -> None:
    app = create_app(gateway_settings(auth_url=dead_url(), jwks_url=jwks_url))
    async with gateway_client(app) as client:
        response = await client.get("/auth/anything")

    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "upstream;dur=" in response.headers["server-timing"]


async def test_a_slow_upstream_is_a_504_problem(
    settings: GatewaySettings, tokens: TokenFactory
) -> None:
    # The upstream takes 2 s; every other test leaves it the default 10 s.
    hasty = settings.model_copy(update={"upstream_timeout_seconds": 0.5})
    async with gateway_client(create_app(hasty)) as gateway:
        response = await gateway.get(
            "/orders/slow", headers={"authorization": f"Bearer {tokens.issue()}"}
        )

    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"


def test_an_upstreams_server_timing_never_reaches_the_client() -> None:
    kept = client_response_headers(
        [(b"server-timing", b"db;dur=53"), (b"content-type", b"application/json")]
    )

    assert kept == [(b"content-type", b"application/json")]


async def test_the_gateways_own_answers_carry_every_server_timing_entry(
    gateway: httpx.AsyncClient,
) -> None:
    for path in ("/health/live", "/metrics"):
        timing = (await gateway.get(path)).headers["server-timing"]
        assert [entry.split(";")[0] for entry in timing.split(", ")] == [
            "auth",
            "upstream",
            "total",
        ]


async def test_head_is_forwarded_as_head(
    gateway: httpx.AsyncClient, upstream: EchoUpstream, tokens: TokenFactory
) -> None:
    await gateway.head("/orders/1", headers={"authorization": f"Bearer {tokens.issue()}"})

    assert upstream.requests[-1]["method"] == "HEAD"


async def test_a_method_the_gateway_does_not_proxy_is_a_405_problem(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    response = await gateway.request("TRACE", "/orders/anything")

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert "GET" in response.headers["allow"].split(", ")
    assert upstream.requests == []


async def test_a_path_that_only_begins_like_a_route_is_not_proxied(
    gateway: httpx.AsyncClient, upstream: EchoUpstream
) -> None:
    response = await gateway.get("/ordersandmore")

    assert response.status_code == 404
    assert upstream.requests == []
