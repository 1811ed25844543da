"""Talking to a service's real app in-process, with its lifespan (and so its resources) open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

# A documentation address (RFC 5737) as the client's: it only ever appears in headers.
CLIENT_ADDRESS = ("203.0.113.7", 4711)


@asynccontextmanager
async def app_client(app: FastAPI, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=base_url) as client,
    ):
        yield client
