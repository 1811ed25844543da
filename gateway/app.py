"""Builds the gateway's app: one pooled client per upstream, one route per table entry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import GatewaySettings
from gateway.proxy import proxy
from gateway.routes import PROXIED_METHODS, ROUTES, ProxyRoute
from gateway.timing import ServerTimingMiddleware
from shared.jwks import check_verification_keys, remote_token_verifier
from shared.service import create_service_app

# httpx sends these of its own accord; a proxy forwards only what the client sent (an
# Accept-Encoding the client never asked for would get it a compressed body it cannot read).
_HTTPX_DEFAULT_HEADERS = ("accept", "accept-encoding", "user-agent")


def _upstream_client(base_url: str, settings: GatewaySettings) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        base_url=base_url,
        limits=httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_connections,
        ),
        timeout=httpx.Timeout(
            settings.upstream_timeout_seconds, connect=settings.upstream_connect_timeout_seconds
        ),
        # The client's redirects and cookies are the client's business, not the gateway's.
        follow_redirects=False,
    )
    for name in _HTTPX_DEFAULT_HEADERS:
        del client.headers[name]
    return client


def _proxy_endpoint(route: ProxyRoute) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state = request.app.state
        return await proxy(request, route, state.upstreams[route.upstream], state.token_verifier)

    return endpoint


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    upstream_urls = {"auth": settings.auth_url, "orders": settings.orders_url}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        async with AsyncExitStack() as stack:
            app.state.upstreams = {
                name: await stack.enter_async_context(_upstream_client(url, settings))
                for name, url in upstream_urls.items()
            }
            # Keys load lazily: the gateway starts even while the auth service is still down.
            verifier, jwks = await stack.enter_async_context(remote_token_verifier(settings))
            app.state.token_verifier = verifier
            app.state.jwks = jwks
            yield

    app = create_service_app(
        title="Order platform gateway",
        description="The public entry point: verifies access tokens and proxies to the services.",
        lifespan=lifespan,
        readiness_checks={"verification_keys": check_verification_keys},
    )
    app.add_middleware(ServerTimingMiddleware)
    for route in ROUTES:
        endpoint = _proxy_endpoint(route)
        for path in (route.prefix, route.prefix + "/{path:path}"):
            # An API route (not a bare Starlette one) so that metrics and logs see its template.
            app.add_api_route(path, endpoint, methods=PROXIED_METHODS, include_in_schema=False)
    return app
