"""The services behind the gateway: for each, one pooled HTTP transport and a circuit breaker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx

from gateway.circuit import CircuitBreaker
from gateway.config import GatewaySettings
from gateway.transport import AiohttpTransport
from shared.client_spans import TracedTransport
from shared.tracing import Tracing

# httpx sends these of its own accord; a proxy forwards only what the client sent (an
# Accept-Encoding the client never asked for would get it a compressed body it cannot read).
_HTTPX_DEFAULT_HEADERS = ("accept", "accept-encoding", "user-agent")
# Well inside uvicorn's 5 s: a connection the upstream is about to close is not reused (a
# POST on it would fail with no safe retry).
_KEEPALIVE_EXPIRY_SECONDS = 2.0


@dataclass(frozen=True)
class Upstream:
    name: str
    # For whole requests of the gateway's own (the API documents).
    client: httpx.AsyncClient
    # For proxied requests: the client's pool, without the client's layer.
    transport: httpx.AsyncBaseTransport
    # For proxied requests of sampled traces: the same pool, each call a span (while tracing is
    # on; else the same transport).
    traced_transport: httpx.AsyncBaseTransport
    breaker: CircuitBreaker
    # The base URL without its trailing slash, to which a request target is appended.
    origin: str


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


def _upstream(
    name: str, base_url: str, settings: GatewaySettings, tracing: Tracing | None
) -> Upstream:
    transport = _transport(settings)
    traced_transport = transport
    if tracing is not None:
        # The upstream call is a span of the request, and the upstream continues its trace.
        traced_transport = TracedTransport(transport, tracing.tracer(__name__), peer_service=name)
    # The client's redirects and cookies are the client's business, not the gateway's; nor
    # does the environment's proxy apply to this client.
    client = httpx.AsyncClient(
        base_url=base_url, transport=traced_transport, follow_redirects=False, trust_env=False
    )
    for header in _HTTPX_DEFAULT_HEADERS:
        del client.headers[header]
    breaker = CircuitBreaker(
        failure_threshold=settings.circuit_failure_threshold,
        trial_delay_seconds=settings.circuit_trial_delay_seconds,
        max_trial_delay_seconds=settings.circuit_max_trial_delay_seconds,
    )
    return Upstream(name, client, transport, traced_transport, breaker, base_url.rstrip("/"))


@asynccontextmanager
async def open_upstreams(
    settings: GatewaySettings, tracing: Tracing | None = None
) -> AsyncIterator[Mapping[str, Upstream]]:
    """The gateway's upstreams by name, their connections closed at exit."""
    urls = {"auth": settings.auth_url, "orders": settings.orders_url}
    upstreams = {name: _upstream(name, url, settings, tracing) for name, url in urls.items()}
    async with AsyncExitStack() as stack:
        for upstream in upstreams.values():
            await stack.enter_async_context(upstream.client)  # closes its transport too
        yield upstreams
