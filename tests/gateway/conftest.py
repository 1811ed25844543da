"""The gateway under test, in front of a real HTTP upstream that reports what reached it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from auth_service.app import create_app as create_auth_app
from auth_service.config import AuthSettings
from auth_service.keys import SigningKey
from gateway.app import create_app
from gateway.config import GatewaySettings
from order_service.app import create_app as create_orders_app
from order_service.config import OrdersSettings
from tests.auth_service.conftest import pem_of
from tests.support.apps import app_client
from tests.support.servers import free_port, running_server
from tests.support.tokens import AUDIENCE, ISSUER


class _AnswersEarly:
    """Answers before reading the request body, then reads it and tells how much arrived.
    (Plain ASGI: Starlette's streaming response would swallow the body, listening for a
    disconnect.)"""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"early;", "more_body": True})
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.body", "body": f"read {size}".encode()})


class EchoUpstream:
    """Answers every request with what it received: method, raw path, query, headers, body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        # `/orders/gated` sends its first chunk, then the rest once this is set.
        self.gate = threading.Event()
        # Set once an `/orders/endless` response has stopped (its client went away).
        self.endless_stopped = threading.Event()
        self.app = Starlette(
            routes=[
                Route("/orders/slow", self._slow),
                Route("/orders/stream", self._stream),
                Route("/orders/gated", self._gated),
                Route("/orders/endless", self._endless),
                Route("/orders/early", _AnswersEarly(), methods=["POST"]),
                Route("/{path:path}", self._echo, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    async def _echo(self, request: Request) -> Response:
        body = await request.body()
        seen = {
            "method": request.method,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
            "body": body.decode("latin-1"),
            "client_port": request.client.port if request.client else None,
        }
        self.requests.append(seen)
        response = JSONResponse(seen)
        response.raw_headers += [
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
            (b"connection", b"x-upstream-private"),
            (b"x-upstream-private", b"secret"),
            (b"x-request-id", b"upstream-made-this-up"),
            # A trace of the upstream's own, which the client must not be told of.
            (b"traceresponse", b"00-" + b"f" * 32 + b"-" + b"e" * 16 + b"-01"),
            # As the platform's services send it, but spelled otherwise: the gateway says it once.
            (b"X-Content-Type-Options", b"nosniff"),
        ]
        return response

    async def _slow(self, _: Request) -> Response:
        await asyncio.sleep(2)
        return Response("late")

    async def _stream(self, _: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            for number in range(100):
                yield bytes([number % 256]) * 1024

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def _gated(self, _: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first chunk;"
            await anyio.to_thread.run_sync(self.gate.wait, 30)
            yield b"the rest"

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    async def _endless(self, _: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"x" * 1024
                    await asyncio.sleep(0.01)
            finally:
                self.endless_stopped.set()

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    def headers_of(self, index: int = -1) -> list[tuple[str, str]]:
        return [(name, value) for name, value in self.requests[index]["headers"]]


@pytest.fixture(scope="session")
def echo_upstream() -> EchoUpstream:
    return EchoUpstream()


@pytest.fixture(scope="session")
def upstream_url(echo_upstream: EchoUpstream) -> Iterator[str]:
    # The client seen is the connection's own: each connection has a port of its own.
    with running_server(echo_upstream.app, proxy_headers=False) as base_url:
        yield base_url


@pytest.fixture
def upstream(echo_upstream: EchoUpstream, upstream_url: str) -> EchoUpstream:
    """The shared upstream, with no requests seen yet."""
    echo_upstream.requests.clear()
    echo_upstream.gate.clear()
    echo_upstream.endless_stopped.clear()
    return echo_upstream


def gateway_settings(**overrides: Any) -> GatewaySettings:
    return GatewaySettings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, **overrides)


@pytest.fixture
def settings(upstream: EchoUpstream, upstream_url: str, jwks_url: str) -> GatewaySettings:
    return gateway_settings(auth_url=upstream_url, orders_url=upstream_url, jwks_url=jwks_url)


@pytest.fixture
async def gateway(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(create_app(settings)) as client:
        yield client


def gateway_client(app: ASGIApp) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    return app_client(app, "http://gateway.test")


@pytest.fixture
def live_gateway(settings: GatewaySettings) -> Iterator[str]:
    """The gateway under uvicorn on a real socket, for what in-process calls cannot show."""
    with running_server(create_app(settings), lifespan="on") as base_url:
        yield base_url


def raw_request(base_url: str, request_line: str, headers: str = "") -> tuple[int, bytes]:
    """Send bytes as they are (no client normalises them); the status and the whole answer."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            f"{request_line}\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n".encode()
        )
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    return int(answer.split(b" ", 2)[1]), answer


def dead_url() -> str:
    """An address where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(params=["aiohttp", "httpx"])
def each_upstream_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """For tests of what the proxy promises whatever sends its requests: every gateway the
    test builds uses each transport in turn."""
    transport: str = request.param
    monkeypatch.setenv("GATEWAY_UPSTREAM_TRANSPORT", transport)
    return transport


# The real services, on real sockets, for what only they show through the gateway.


@pytest.fixture
def real_auth_url(auth_database_url: str, tmp_path: Path, signing_key: SigningKey) -> Iterator[str]:
    key_file = tmp_path / "signing-key.pem"
    key_file.write_bytes(pem_of(signing_key))
    settings = AuthSettings(
        database_url=auth_database_url,
        private_key_file=key_file,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )
    with running_server(create_auth_app(settings), lifespan="on") as url:
        yield url


@pytest.fixture
def real_orders_url(orders_database_url: str, jwks_url: str) -> Iterator[str]:
    settings = OrdersSettings(
        database_url=orders_database_url,
        jwks_url=jwks_url,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )
    with running_server(create_orders_app(settings), lifespan="on") as url:
        yield url
