"""A small app built in the services' frame, to test the frame itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

from shared.problems import Problem
from shared.service import create_service_app


class Widget(BaseModel):
    name: str = Field(min_length=1)
    secret: str = Field(min_length=8)


def build_frame_app(
    checks: dict[str, Callable[[Request], Awaitable[None]]] | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield

    app = create_service_app(
        title="frame", description="test", lifespan=lifespan, readiness_checks=checks or {}
    )

    @app.get("/widgets/{widget_id}")
    async def show_widget(widget_id: int) -> dict[str, int]:
        return {"id": widget_id}

    @app.post("/widgets")
    async def add_widget(widget: Widget) -> dict[str, str]:
        return {"name": widget.name}

    @app.get("/conflict")
    async def conflict() -> None:
        raise Problem(409, "Already there.", slug="already-there", extensions={"hint": "x"})

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    # raise_app_exceptions=False: the app's own answer to an exception is what is tested.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://frame.test")


@pytest.fixture
async def frame_client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(build_frame_app()) as client:
        yield client
