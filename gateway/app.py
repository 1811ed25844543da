"""Builds the gateway's app: one pooled client and circuit breaker per upstream, one route per
table entry, the rate limiter, CORS and the merged API documents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from gateway.circuit import CircuitBreaker
from gateway.config import GatewaySettings
from gateway.cors import ProblemCORSMiddleware
from gateway.dispatch import GatewayApp
from gateway.docs import install_api_docs
from gateway.metrics import GatewayMetrics
from gateway.proxy import Proxy, Upstream
from gateway.rate_limit import open_rate_limiter
from gateway.routes import PROXIED_METHODS, ROUTES, ProxyRoute
from gateway.timing import ServerTimingMiddleware
from gateway.transport import AiohttpTransport
from shared.jwks import check_verification_keys, remote_token_verifier
from shared.service import create_service_app, platform_middleware

# httpx sends these of its own accord; a proxy forwards only what the client sent (an
# Accept-Encoding the client never asked for would get it a compressed body it cannot read).
_HTTPX_DEFAULT_HEADERS = ("accept", "accept-encoding", "user-agent")


# Well inside uvicorn's 5 s: a connection the upstream is about to close is not reused (a
# POST on it would fail with no safe retry).
_KEEPALIVE_EXPIRY_SECONDS = 2.0


def _transport(settings: GatewaySettings) -> httpx.AsyncBaseTransport:
    if settings.upstream_transport == "httpx":
        return httpx.AsyncHTTPTransport(
            limits=httpx.Limits(
                max_connections=settings.upstream_max_connections,
                max_keepalive_connections=settings.upstream_max_connections,
                keepalive_expiry=_KEEPALIVE_EXPIRY_SECONDS,
            ),
            # The environment's HTTP(S)_PROXY does not apply to upstreams.
            trust_env=False,
        )
    return AiohttpTransport(
        max_connections=settings.upstream_max_connections,
        keepalive_expiry=_KEEPALIVE_EXPIRY_SECONDS,
    )


def _upstream(name: str, base_url: str, settings: GatewaySettings) -> Upstream:
    transport = _transport(settings)
    # The client's redirects and cookies are the client's business, not the gateway's; nor
    # does the environment's proxy apply to this client.
    client = httpx.AsyncClient(
        base_url=base_url, transport=transport, follow_redirects=False, trust_env=False
    )
    for header in _HTTPX_DEFAULT_HEADERS:
        del client.headers[header]
    breaker = CircuitBreaker(
        failure_threshold=settings.circuit_failure_threshold,
        trial_delay_seconds=settings.circuit_trial_delay_seconds,
        max_trial_delay_seconds=settings.circuit_max_trial_delay_seconds,
    )
    return Upstream(name, client, transport, breaker, origin=base_url.rstrip("/"))


def create_app(
    settings: GatewaySettings | None = None, routes: Sequence[ProxyRoute] = ROUTES
) -> FastAPI:
    settings = settings or GatewaySettings()
    upstream_urls = {"auth": settings.auth_url, "orders": settings.orders_url}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        async with AsyncExitStack() as stack:
            app.state.upstreams = {
                name: _upstream(name, url, settings) for name, url in upstream_urls.items()
            }
            for upstream in app.state.upstreams.values():
                await stack.enter_async_context(upstream.client)  # closes its transport too
            # Keys load lazily: the gateway starts even while the auth service is still down.
            verifier, jwks = await stack.enter_async_context(remote_token_verifier(settings))
            app.state.jwks = jwks
            # Closed before the upstream clients it fetches with (the stack unwinds in reverse).
            stack.push_async_callback(app.state.api_documents.aclose)
            app.state.proxy = Proxy(
                app.state.upstreams,
                verifier,
                await stack.enter_async_context(open_rate_limiter(settings)),
                app.state.gateway_metrics,
                settings,
            )
            yield

    cors = (
        [
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
        if settings.cors_allow_origins
        else []
    )
    # Proxied requests take the same middleware, on a short way of their own (dispatch.py).
    # Server-Timing outermost: CORS preflights, which CORS answers itself, carry it too.
    middleware = [Middleware(ServerTimingMiddleware), *cors]
    app = create_service_app(
        title="Order platform gateway",
        description="The public entry point: verifies access tokens and proxies to the services.",
        lifespan=lifespan,
        readiness_checks={"verification_keys": check_verification_keys},
        serves_own_docs=False,
        middleware=middleware,
        # HEAD goes upstream as HEAD; the services answer it.
        answers_head_as_get=False,
        app_class=GatewayApp,
    )
    assert isinstance(app, GatewayApp)
    app.route_to_proxy(routes, [*platform_middleware(app), *middleware])
    app.state.gateway_metrics = GatewayMetrics(app.state.metrics.registry)
    install_api_docs(app, settings, routes)
    return app
