"""A small app built in the services' frame, to test the frame itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from shared.metrics import ServiceMetrics
from shared.problem_types import SKU_TAKEN
from shared.problems import Problem
from shared.service import create_service_app, platform_middleware
from shared.tracing import Tracing, flushed_at_exit
from tests.support.apps import served


class Widget(BaseModel):
    name: str = Field(min_length=1)
    secret: str = Field(min_length=8)


def build_frame_app(
    checks: dict[str, Callable[[Any], Awaitable[None]]] | None = None,
    tracing: Tracing | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with flushed_at_exit(tracing):
            yield {}

    metrics = ServiceMetrics()
    app = create_service_app(
        title="frame",
        description="test",
        lifespan=lifespan,
        readiness_checks=checks or {},
        metrics=metrics,
        middleware=platform_middleware(metrics, tracing),
    )

    @app.get("/widgets/{widget_id}")
    async def show_widget(widget_id: int) -> dict[str, int]:
        return {"id": widget_id}

    @app.post("/widgets")
    async def add_widget(widget: Widget) -> dict[str, str]:
        return {"name": widget.name}

    @app.get("/widgets")
    async def list_widgets() -> list[str]:
        return []

    @app.get("/conflict")
    async def conflict() -> None:
        raise Problem(SKU_TAKEN, "Already there.", extensions={"hint": "x"})

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    return app


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with served(app) as (serving, _):
        # raise_app_exceptions=False: the app's own answer to an exception is what is tested.
        transport = httpx.ASGITransport(app=serving, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://frame.test") as client:
            yield client


@pytest.fixture
async def frame_client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(build_frame_app()) as client:
        yield client
