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
from gateway.rate_limit import RateLimiter, open_rate_limiter
from gateway.routes import PROXIED_METHODS, ROUTES, ProxyRoute
from gateway.timing import ServerTimingMiddleware
from gateway.traced_pipeline import TracedPipeline
from gateway.upstreams import Upstream, open_upstreams
from shared.jwks import JWKSCache, remote_token_verifier
from shared.metrics import ServiceMetrics
from shared.service import create_service_app, platform_middleware, wrapped
from shared.tokens import Verifier
from shared.tracing import flushed_at_exit, start_tracing


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
                "traceparent",
                "tracestate",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "Retry-After",
                "RateLimit",
                "RateLimit-Policy",
                "Server-Timing",
                "X-Request-ID",
                "traceresponse",
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
    tracing = start_tracing(settings, "gateway")

    def pipeline(
        upstreams: Mapping[str, Upstream], verifier: Verifier, rate_limiter: RateLimiter
    ) -> Pipeline:
        if tracing is None:
            return Pipeline(upstreams, verifier, rate_limiter, gateway_metrics, settings)
        return TracedPipeline(upstreams, verifier, rate_limiter, gateway_metrics, settings, tracing)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[GatewayState]:
        async with (
            # Exited last: the spans of everything below reach the collector.
            flushed_at_exit(tracing),
            open_upstreams(settings, tracing) as upstreams,
            # Keys load lazily: the gateway starts even while the auth service is still down.
            remote_token_verifier(settings, tracing) as (verifier, jwks),
            open_rate_limiter(settings, tracing=tracing) as rate_limiter,
            # Closed before the upstream clients it fetches with (opened after them).
            ApiDocuments(app, upstreams, settings, routes) as api_documents,
        ):
            yield {
                "settings": settings,
                "upstreams": upstreams,
                "verifier": verifier,
                "jwks": jwks,
                "pipeline": pipeline(upstreams, verifier, rate_limiter),
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
        *platform_middleware(metrics, tracing),
        Middleware(ServerTimingMiddleware),
        *_cors(settings),
    ]
    return wrapped(FrontDoor(framework, routes), middleware)
