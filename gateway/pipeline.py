"""The gateway's hot path: each proxied request, as one `Exchange`, through five steps —
authenticate, limit, admit, forward, relay — each with its own refusal.

It speaks ASGI directly (no request or response objects) and hands `httpx.Request`s straight
to the upstream's transport: the client layer on top (cookies, redirects, auth flows) is for
callers that need it, and a proxy does not. What the gateway adds to every answer (the rate
limit's headers) is added once, at the end, from what the steps decided.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx
from starlette.types import Receive, Scope, Send

from gateway.body import ClientBody
from gateway.circuit import CircuitOpen
from gateway.config import GatewaySettings
from gateway.exchange import Exchange
from gateway.forward import Forwarder, body_too_large
from gateway.headers import RawHeaders, client_response_headers
from gateway.incoming import framing_of, has_dot_segments
from gateway.metrics import GatewayMetrics
from gateway.rate_limit import RateLimiter, rate_limit_headers
from gateway.relay import relay_body
from gateway.routes import PROXIED_METHODS, ProxyRoute
from gateway.timing import TIMINGS
from gateway.upstreams import Upstream
from shared.identity import Unauthorized, identify
from shared.problem_types import (
    BAD_REQUEST,
    METHOD_NOT_ALLOWED,
    RATE_LIMITED,
    UPSTREAM_UNAVAILABLE,
)
from shared.problems import Problem, render_problem
from shared.tokens import Identity, Verifier


class Pipeline:
    def __init__(
        self,
        upstreams: Mapping[str, Upstream],
        verifier: Verifier,
        rate_limiter: RateLimiter,
        metrics: GatewayMetrics,
        settings: GatewaySettings,
        *,
        traced: bool = False,
    ) -> None:
        self.upstreams = upstreams
        self.verifier = verifier
        self.rate_limiter = rate_limiter
        self.metrics = metrics
        self.settings = settings
        self.forwarder = Forwarder(metrics, settings, traced=traced)

    async def handle(self, scope: Scope, receive: Receive, send: Send, route: ProxyRoute) -> None:
        exchange = Exchange(
            scope,
            receive,
            route,
            self.upstreams[route.upstream],
            framing_of(scope["headers"]),
            scope[TIMINGS],
        )
        try:
            self._check_target(exchange)
            await self._authenticate(exchange)
            self._admit(exchange)
            answer = await self._forward(exchange)
        except Problem as refusal:
            response = render_problem(refusal)
            response.raw_headers += self._added_headers(exchange)
            await response(scope, receive, send)
            return
        await self._relay(exchange, answer, send)

    @staticmethod
    def _check_target(exchange: Exchange) -> None:
        if exchange.method not in PROXIED_METHODS:
            raise Problem(
                METHOD_NOT_ALLOWED,
                "This path does not accept this method.",
                headers={"Allow": ", ".join(PROXIED_METHODS)},
            )
        if has_dot_segments(exchange.scope["path"]):
            # Upstreams (and httpx) would resolve them: `/auth/../metrics` must not escape.
            raise Problem(BAD_REQUEST, "The path must not contain `.` or `..` segments.")

    async def _authenticate(self, exchange: Exchange) -> None:
        """Who the bearer token speaks for (on protected routes), then the rate limit of
        that user; a refused token spends from its address's budget, like any anonymous
        client's, so that spraying bad tokens is limited too."""
        if not exchange.route.is_public:
            started_at = time.perf_counter()
            try:
                exchange.identity = await self._identify(exchange)
            except Unauthorized as refusal:
                self.metrics.auth_failures.labels(refusal.reason).inc()
                await self._limit(exchange)
                raise
            finally:
                exchange.timings.auth_seconds = time.perf_counter() - started_at
        await self._limit(exchange)

    async def _identify(self, exchange: Exchange) -> Identity:
        """The token check: who the bearer token speaks for, or `Unauthorized`."""
        return await identify(self.verifier, exchange.framing.authorization)

    async def _limit(self, exchange: Exchange) -> None:
        exchange.limit = decision = await self.rate_limiter.acquire(exchange.rate_limit_key)
        if not decision.is_allowed:
            self.metrics.rate_limited.inc()
            raise Problem(
                RATE_LIMITED,
                "Too many requests; slow down and retry later.",
                headers={"Retry-After": str(decision.retry_after_seconds)},
            )

    def _admit(self, exchange: Exchange) -> None:
        """A body that says it is too large is refused before anything is sent; an upstream
        whose circuit is open is spared."""
        declared_length = exchange.framing.declared_length
        if declared_length is not None and declared_length > self.settings.max_body_bytes:
            raise body_too_large(self.settings.max_body_bytes)
        upstream = exchange.upstream
        try:
            exchange.ticket = upstream.breaker.before_request()
        except CircuitOpen as open_circuit:
            self.metrics.circuit_open.labels(upstream.name).inc()
            raise Problem(
                UPSTREAM_UNAVAILABLE,
                f"The {upstream.name} service is failing; the gateway is giving it a rest.",
                headers={"Retry-After": str(open_circuit.retry_after_seconds)},
            ) from None

    async def _forward(self, exchange: Exchange) -> httpx.Response:
        if exchange.framing.has_body:
            exchange.body = ClientBody(exchange.receive)
        try:
            return await self.forwarder.forward(exchange)
        except BaseException:
            # However the request ended, a half-open circuit's trial is over (failures of the
            # upstream were recorded already; this settles the rest, cancellation included).
            assert exchange.ticket is not None
            exchange.upstream.breaker.record_neither(exchange.ticket)
            raise

    async def _relay(self, exchange: Exchange, answer: httpx.Response, send: Send) -> None:
        headers = client_response_headers(answer.headers.raw) + self._added_headers(exchange)
        try:
            await send(
                {"type": "http.response.start", "status": answer.status_code, "headers": headers}
            )
            body = exchange.body
            await relay_body(
                answer,
                send,
                upstream=exchange.upstream.name,
                receive=exchange.receive,
                is_request_read=lambda: body is None or body.is_read,
            )
        finally:
            await answer.aclose()

    def _added_headers(self, exchange: Exchange) -> RawHeaders:
        """What the gateway tells every client it answers: its rate limit, once decided."""
        if exchange.limit is None:
            return []
        return rate_limit_headers(exchange.limit, self.settings)
