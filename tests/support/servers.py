"""Real HTTP servers for tests: an ASGI app under uvicorn in a thread, on a free port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.cli import server_config
from shared.settings import ServiceSettings

STARTUP_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition()` until it is true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


async def eventually(condition: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    """Like `wait_until`, without blocking the event loop the condition depends on."""
    try:
        async with asyncio.timeout(seconds):
            # Polled: what it waits for happens in another thread (a test server's).
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise TimeoutError(f"timed out waiting for {what}") from None


def answering_empty(received: list[str]) -> ASGIApp:
    """An app that answers every request 200 with no body and records its path in
    `received` (a load generator's target)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


@contextmanager
def running_server(
    app: ASGIApp,
    *,
    lifespan: Literal["on", "off"] = "off",
    port: int = 0,
    proxy_headers: bool = True,
) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 in a background thread; yields its base URL.

    `port` 0 takes a free one; a given port lets a test restart a service at the same address.
    `proxy_headers=False` leaves the scope's client the connection's own address.
    """
    config = uvicorn.Config(
        app, lifespan=lifespan, log_level="warning", access_log=False, proxy_headers=proxy_headers
    )
    with serving(config, port=port) as base_url:
        yield base_url


@contextmanager
def serving(config: uvicorn.Config, *, port: int = 0) -> Iterator[str]:
    """Run a uvicorn server with `config` on 127.0.0.1:`port` in a background thread."""
    with running_uvicorn(config, port=port) as (base_url, _):
        yield base_url


@contextmanager
def running_uvicorn(
    config: uvicorn.Config, *, port: int = 0
) -> Iterator[tuple[str, uvicorn.Server]]:
    """`serving`, with the server itself too: its state counts the open connections."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, STARTUP_TIMEOUT_SECONDS, "the test server to start")
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def production_config(app: ASGIApp, settings: ServiceSettings) -> uvicorn.Config:
    """`app` served as `python -m <service> serve` serves its app (`server_config`): the same
    protocol, limits and timeouts, and the lifespan run."""
    config = server_config("unused:create_app", settings, "test")
    # The instance instead of the factory's import path: the test's own settings built it.
    config.app, config.factory = app, False
    return config
