"""Talking to a service's real app in-process, with its lifespan (and so its resources) open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp, Receive, Scope, Send

# A documentation address (RFC 5737) as the client's: it only ever appears in headers.
CLIENT_ADDRESS = ("203.0.113.7", 4711)
# Generous: a loaded machine may take seconds to open a service's database pool.
LIFESPAN_TIMEOUT_SECONDS = 30


@asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[tuple[ASGIApp, Any]]:
    """`app` with its lifespan open: the app as a server calls it (each request with a copy
    of the lifespan's state), and that state (the app's resources)."""
    lifespan_state: dict[str, Any] = {}

    async def seen_from_outside(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the dict the lifespan fills in
            lifespan_state["state"] = scope["state"]
        await app(scope, receive, send)

    async with LifespanManager(
        seen_from_outside,
        startup_timeout=LIFESPAN_TIMEOUT_SECONDS,
        shutdown_timeout=LIFESPAN_TIMEOUT_SECONDS,
    ) as manager:
        yield manager.app, lifespan_state["state"]


@asynccontextmanager
async def running_app(app: ASGIApp, base_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """A client of `app`, with the state its lifespan yielded (its resources)."""
    async with served(app) as (serving, state):
        transport = httpx.ASGITransport(app=serving, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client, state


@asynccontextmanager
async def app_client(app: ASGIApp, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(app, base_url) as (client, _):
        yield client
