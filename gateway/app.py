"""Builds the gateway: the front door with the pipeline behind it, the framework's app for
everything else (health, metrics, the merged API documents), and the resources they share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from gateway.config import GatewaySettings
from gateway.cors import ProblemCORSMiddleware
from gateway.docs import ApiDocuments, install_api_docs
from gateway.front_door import FrontDoor
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Pipeline
from gateway.rate_limit import open_rate_limiter
from gateway.routes import PROXIED_METHODS, ROUTES, ProxyRoute
from gateway.timing import ServerTimingMiddleware
from gateway.upstreams import Upstream, open_upstreams
from shared.jwks import JWKSCache, remote_token_verifier
from shared.metrics import ServiceMetrics
from shared.service import create_service_app, platform_middleware, wrapped
from shared.tokens import Verifier


class GatewayState(TypedDict):
    """What the lifespan opens, for the pipeline and the framework's handlers."""

    settings: GatewaySettings
    upstreams: Mapping[str, Upstream]
    verifier: Verifier
    jwks: JWKSCache
    pipeline: Pipeline
    api_documents: ApiDocuments
    metrics: ServiceMetrics


def _cors(settings: GatewaySettings) -> list[Middleware]:
    if not settings.cors_allow_origins:
        return []
    return [
        Middleware(
            ProblemCORSMiddleware,
            allow_origins=list(settings.cors_allow_origins),
            allow_methods=PROXIED_METHODS,
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "X-Request-ID",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "Retry-After",
                "RateLimit",
                "RateLimit-Policy",
                "Server-Timing",
                "X-Request-ID",
            ],
            max_age=600,
        )
    ]


def create_app(
    settings: GatewaySettings | None = None,
    routes: Sequence[ProxyRoute] = ROUTES,
    metrics: ServiceMetrics | None = None,
) -> ASGIApp:
    """The gateway, its metrics in `metrics` (a registry of its own unless given)."""
    settings = settings or GatewaySettings()
    metrics = metrics or ServiceMetrics()
    gateway_metrics = GatewayMetrics(metrics.registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[GatewayState]:
        async with (
            open_upstreams(settings) as upstreams,
            # Keys load lazily: the gateway starts even while the auth service is still down.
            remote_token_verifier(settings) as (verifier, jwks),
            open_rate_limiter(settings) as rate_limiter,
            # Closed before the upstream clients it fetches with (opened after them).
            ApiDocuments(app, upstreams, settings, routes) as api_documents,
        ):
            yield {
                "settings": settings,
                "upstreams": upstreams,
                "verifier": verifier,
                "jwks": jwks,
                "pipeline": Pipeline(upstreams, verifier, rate_limiter, gateway_metrics, settings),
                "api_documents": api_documents,
                "metrics": metrics,
            }

    async def keys_loaded(state: GatewayState) -> None:
        await state["jwks"].ensure_loaded()

    framework = create_service_app(
        title="Order platform gateway",
        description="The public entry point: verifies access tokens and proxies to the services.",
        lifespan=lifespan,
        readiness_checks={"verification_keys": keys_loaded},
        metrics=metrics,
        # The front door's middleware, around both ways, is all it needs.
        middleware=(),
        serves_own_docs=False,
        # HEAD goes upstream as HEAD; the services answer it.
        answers_head_as_get=False,
    )
    install_api_docs(framework)
    # Server-Timing outside CORS: preflights, which CORS answers itself, carry it too.
    middleware = [
        *platform_middleware(metrics),
        Middleware(ServerTimingMiddleware),
        *_cors(settings),
    ]
    return wrapped(FrontDoor(framework, routes), middleware)
