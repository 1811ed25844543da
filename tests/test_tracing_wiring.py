"""With no exporter configured tracing costs nothing: no service installs a server span, wraps
a client or an engine, traces a step or patches a library. With one, each of them does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio
import sqlalchemy
import wrapt
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from auth_service.app import create_app as create_auth_app
from auth_service.config import AuthSettings
from gateway.app import create_app as create_gateway_app
from gateway.config import GatewaySettings
from gateway.pipeline import Pipeline
from gateway.rate_limit import RedisRateLimiter
from gateway.traced_pipeline import TracedPipeline
from order_service.app import create_app as create_orders_app
from order_service.config import OrdersSettings
from order_service.store.statement_spans import TracedPostgresConnection
from shared.client_spans import TracedTransport
from shared.jwks import JWKSCache
from shared.metrics import MetricsMiddleware
from shared.server_spans import ServerSpanMiddleware
from tests.gateway.test_rate_limit import REDIS_URL
from tests.shared.tracing_support import receiver
from tests.support.apps import served
from tests.support.otlp import OtlpReceiver

__all__ = ["receiver"]  # the fixture

TRACING_OFF: dict[str, Any] = {}


@pytest.fixture(params=["off", "on"])
def tracing(request: pytest.FixtureRequest, receiver: OtlpReceiver) -> Iterator[dict[str, Any]]:
    """The settings that leave tracing off, or turn it on."""
    if request.param == "off":
        yield TRACING_OFF
    else:
        yield {"otel_exporter_otlp_endpoint": receiver.base_url}


def _is_on(tracing: dict[str, Any]) -> bool:
    return tracing is not TRACING_OFF


def _layers(app: ASGIApp) -> list[Any]:
    """The middleware an app is wrapped in, outermost first (a FastAPI app's as declared)."""
    if isinstance(app, FastAPI):
        return [layer.cls for layer in app.user_middleware]
    layers = []
    while hasattr(app, "app"):
        layers.append(app)
        app = app.app
    return layers


def _metrics_exemplar(app: ASGIApp) -> Any:
    if isinstance(app, FastAPI):
        [declared] = [m for m in app.user_middleware if m.cls is cast(Any, MetricsMiddleware)]
        return declared.kwargs.get("exemplar")
    [metrics] = [layer for layer in _layers(app) if isinstance(layer, MetricsMiddleware)]
    return metrics.exemplar


def _has_server_spans(app: ASGIApp) -> bool:
    return any(
        layer is ServerSpanMiddleware or isinstance(layer, ServerSpanMiddleware)
        for layer in _layers(app)
    )


def _statement_listeners(engine: AsyncEngine) -> int:
    return len(engine.sync_engine.dispatch.before_cursor_execute)


def _jwks_transport(jwks: JWKSCache) -> Any:
    return jwks.client._transport


def _is_patched(function: Any) -> bool:
    """Whether an instrumentation wrapped it (they all wrap with wrapt)."""
    return isinstance(function, wrapt.FunctionWrapper)


def test_nothing_of_the_libraries_is_patched_for_the_process() -> None:
    assert not _is_patched(sqlalchemy.create_engine)
    assert not _is_patched(redis.asyncio.Redis.execute_command)


async def test_the_gateway_traces_only_when_told_to(tracing: dict[str, Any]) -> None:
    settings = GatewaySettings(redis_url=REDIS_URL, **tracing)
    app = create_gateway_app(settings)

    async with served(app) as (_, state):
        pipeline: Pipeline = state["pipeline"]
        assert isinstance(pipeline, TracedPipeline) is _is_on(tracing)
        for upstream in state["upstreams"].values():
            # Sampled requests' calls are spans; the rest go through the plain pool.
            assert isinstance(upstream.traced_transport, TracedTransport) is _is_on(tracing)
            assert not isinstance(upstream.transport, TracedTransport)
        assert isinstance(_jwks_transport(state["jwks"]), TracedTransport) is _is_on(tracing)
        assert isinstance(pipeline.rate_limiter, RedisRateLimiter)
        redis_client = pipeline.rate_limiter._script.registered_client
        assert _is_patched(redis_client.execute_command) is _is_on(tracing)
        assert (pipeline.forwarder.exemplar is not None) is _is_on(tracing)
    assert _has_server_spans(app) is _is_on(tracing)
    assert (_metrics_exemplar(app) is not None) is _is_on(tracing)


async def test_the_order_service_traces_only_when_told_to(
    tracing: dict[str, Any], orders_database_url: str
) -> None:
    settings = OrdersSettings(database_url=orders_database_url, **tracing)
    app = create_orders_app(settings)

    async with served(app) as (_, state):
        assert (_statement_listeners(state["store"].engine) > 0) is _is_on(tracing)
        async with state["store"].reading() as connection:
            assert isinstance(connection, TracedPostgresConnection) is _is_on(tracing)
        assert isinstance(_jwks_transport(state["jwks"]), TracedTransport) is _is_on(tracing)
    assert _has_server_spans(app) is _is_on(tracing)
    assert (_metrics_exemplar(app) is not None) is _is_on(tracing)


async def test_the_auth_service_traces_only_when_told_to(
    tracing: dict[str, Any], auth_database_url: str, tmp_path: Path
) -> None:
    settings = AuthSettings(
        database_url=auth_database_url,
        development_key_file=tmp_path / "signing-key.pem",
        password_hash_memory_kib=1024,
        **tracing,
    )
    app = create_auth_app(settings)

    async with served(app) as (_, state):
        assert (_statement_listeners(state["engine"]) > 0) is _is_on(tracing)
        hasher = state["passwords"]._hasher
        assert (type(hasher) is PasswordHasher) is not _is_on(tracing)
    assert _has_server_spans(app) is _is_on(tracing)
    assert (_metrics_exemplar(app) is not None) is _is_on(tracing)
