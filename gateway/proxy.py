"""Forwarding one request to its upstream: authenticate, limit, send (retrying where that is
safe), and stream the answer back; every way this can fail has its own status.

This is the gateway's hot path, so it speaks ASGI directly (no request or response objects)
and hands `httpx.Request`s straight to the upstream's transport: the client layer on top
(cookies, redirects, auth flows) is for callers that need it, and a proxy does not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from gateway.body import BodyTooLarge, BodyTooSlow, ClientBody, limited
from gateway.circuit import CircuitBreaker, CircuitOpen
from gateway.config import GatewaySettings
from gateway.headers import RawHeaders, client_response_headers, upstream_request_headers
from gateway.incoming import Framing, framing_of, has_dot_segments, upstream_url
from gateway.metrics import GatewayMetrics
from gateway.rate_limit import RateLimiter, rate_limit_headers
from gateway.relay import relay_body
from gateway.routes import IDEMPOTENT_METHODS, ProxyRoute
from shared.identity import bearer_token, unauthorized
from shared.problems import Problem, render_problem
from shared.request_context import current_request_id
from shared.tokens import Identity, InvalidToken, Verifier

logger = logging.getLogger(__name__)

# Upstream answers that count against its circuit, like failing to answer at all.
_FAILURE_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Upstream:
    name: str
    # For whole requests of the gateway's own (the API documents).
    client: httpx.AsyncClient
    # For proxied requests: the client's pool, without the client's layer.
    transport: httpx.AsyncBaseTransport
    breaker: CircuitBreaker
    # The base URL without its trailing slash, to which a request target is appended.
    origin: str


def _server_timing(auth: float, upstream: float | None = None) -> str:
    """`Server-Timing` of the steps taken (in seconds); `total` is ServerTimingMiddleware's."""
    if upstream is None:
        return f"auth;dur={auth * 1000:.1f}"
    return f"auth;dur={auth * 1000:.1f}, upstream;dur={upstream * 1000:.1f}"


def _as_dict(headers: RawHeaders) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in headers}


class Proxy:
    def __init__(
        self,
        upstreams: dict[str, Upstream],
        verifier: Verifier,
        rate_limiter: RateLimiter,
        metrics: GatewayMetrics,
        settings: GatewaySettings,
    ) -> None:
        self.upstreams = upstreams
        self.verifier = verifier
        self.rate_limiter = rate_limiter
        self.metrics = metrics
        self.settings = settings
        self._timeouts: dict[ProxyRoute, dict[str, float | None]] = {}
        # Looked up once: `labels()` takes a lock and builds its key on every call.
        self._upstream_duration = {
            name: metrics.upstream_duration.labels(name) for name in upstreams
        }

    async def handle(self, scope: Scope, receive: Receive, send: Send, route: ProxyRoute) -> None:
        try:
            answer, headers, client_body = await self._answer(scope, receive, route)
        except Problem as problem:
            await render_problem(problem)(scope, receive, send)
            return
        try:
            await send(
                {"type": "http.response.start", "status": answer.status_code, "headers": headers}
            )
            await relay_body(
                answer,
                send,
                upstream=route.upstream,
                receive=receive,
                is_request_read=lambda: client_body is None or client_body.is_read,
            )
        finally:
            await answer.aclose()

    async def _answer(
        self, scope: Scope, receive: Receive, route: ProxyRoute
    ) -> tuple[httpx.Response, RawHeaders, ClientBody | None]:
        """The upstream's answer (its body still to come), the headers for the client, and the
        client's body (the transport may still be reading it)."""
        if has_dot_segments(scope["path"]):
            # Upstreams (and httpx) would resolve them: `/auth/../metrics` must not escape.
            raise Problem(400, "The path must not contain `.` or `..` segments.")
        framing = framing_of(scope["headers"])
        started_at = time.perf_counter()
        try:
            identity = None if route.is_public else await self._authenticate(framing)
        except Problem as refusal:
            # A refused token still spends from its address's budget: a client spraying bad
            # tokens is limited like any anonymous one.
            refusal.headers.update(_as_dict(await self._spend_rate_limit(scope, None)))
            refusal.headers["Server-Timing"] = _server_timing(time.perf_counter() - started_at)
            raise
        authenticated_at = time.perf_counter()
        limit_headers = await self._spend_rate_limit(scope, identity)
        if (
            framing.declared_length is not None
            and framing.declared_length > self.settings.max_body_bytes
        ):
            raise self._too_large(limit_headers)
        upstream = self.upstreams[route.upstream]
        client_body = ClientBody(receive) if framing.has_body else None

        def timing() -> str:
            return _server_timing(
                authenticated_at - started_at, time.perf_counter() - authenticated_at
            )

        try:
            ticket = upstream.breaker.before_request()
        except CircuitOpen as open_circuit:
            self.metrics.circuit_open.labels(upstream.name).inc()
            raise Problem(
                503,
                f"The {upstream.name} service is failing; the gateway is giving it a rest.",
                headers={
                    "Retry-After": str(open_circuit.retry_after_seconds),
                    "Server-Timing": timing(),
                },
            ) from None
        try:
            answer = await self._forward(
                scope, client_body, route, upstream, ticket, identity, timing, limit_headers
            )
        except BaseException:
            # However the request ended, a half-open circuit's trial is over (failures of the
            # upstream were recorded already; this settles the rest, cancellation included).
            upstream.breaker.record_neither(ticket)
            raise
        headers = client_response_headers(answer.headers.raw)
        headers += limit_headers
        headers.append((b"server-timing", timing().encode()))
        return answer, headers, client_body

    def _timeout(self, route: ProxyRoute) -> dict[str, float | None]:
        """The route's httpx timeouts, worked out on its first request."""
        timeout = self._timeouts.get(route)
        if timeout is None:
            timeout = self._timeouts[route] = httpx.Timeout(
                route.timeout_seconds or self.settings.upstream_timeout_seconds,
                connect=self.settings.upstream_connect_timeout_seconds,
                pool=self.settings.upstream_pool_timeout_seconds,
            ).as_dict()
        return timeout

    async def _authenticate(self, framing: Framing) -> Identity:
        token = bearer_token(framing.authorization)
        if token is None:
            self.metrics.auth_failures.labels("missing token").inc()
            raise unauthorized()
        try:
            return await self.verifier.verify(token)
        except InvalidToken as invalid:
            self.metrics.auth_failures.labels(invalid.reason).inc()
            raise unauthorized(invalid.reason) from None

    async def _spend_rate_limit(self, scope: Scope, identity: Identity | None) -> RawHeaders:
        """The RateLimit headers for the response; raises 429 when the budget is spent."""
        if identity is not None:
            key = f"user:{identity.user_id}"
        else:
            client = scope.get("client")
            key = f"address:{client[0] if client else 'unknown'}"
        decision = await self.rate_limiter.acquire(key)
        headers = rate_limit_headers(decision, self.settings)
        if not decision.is_allowed:
            self.metrics.rate_limited.inc()
            raise Problem(
                429,
                "Too many requests; slow down and retry later.",
                headers={"Retry-After": str(decision.retry_after_seconds), **_as_dict(headers)},
            )
        return headers

    def _too_large(self, limit_headers: RawHeaders) -> Problem:
        return Problem(
            413,
            f"The request body is larger than {self.settings.max_body_bytes} bytes.",
            headers=_as_dict(limit_headers),
        )

    async def _forward(  # noqa: PLR0913 - the request's state, until it has an object of its own
        self,
        scope: Scope,
        client_body: ClientBody | None,
        route: ProxyRoute,
        upstream: Upstream,
        ticket: int,
        identity: Identity | None,
        timing: Callable[[], str],
        limit_headers: RawHeaders,
    ) -> httpx.Response:
        """The upstream's answer (its body still to come), or the problem that replaces it."""
        client = scope.get("client")
        headers = upstream_request_headers(
            scope["headers"],
            identity=identity,
            request_id=current_request_id() or "",
            client_address=client[0] if client else None,
            scheme=scope["scheme"],
        )
        body = (
            None
            if client_body is None
            else limited(
                aiter(client_body),
                self.settings.max_body_bytes,
                self.settings.client_body_timeout_seconds,
            )
        )
        timeout = self._timeout(route)
        url = upstream_url(upstream.origin, scope)
        method: str = scope["method"]
        is_retry_safe = method in IDEMPOTENT_METHODS and body is None

        def build() -> httpx.Request:
            return httpx.Request(
                method, url, headers=headers, content=body, extensions={"timeout": timeout}
            )

        sent_at = time.perf_counter()
        try:
            answer = await self._send_with_retry(upstream, build, is_retry_safe)
        except BodyTooLarge:
            raise self._too_large(limit_headers) from None
        except BodyTooSlow:
            raise Problem(408, "The request body did not arrive in time.") from None
        except ClientDisconnect:
            raise Problem(400, "The client went away before sending its whole body.") from None
        except httpx.PoolTimeout:
            # The gateway's own limit, not the upstream's fault: no failure on its circuit.
            self.metrics.upstream_failures.labels(upstream.name, "pool_exhausted").inc()
            raise Problem(
                503,
                f"The gateway has too many requests in flight to the {upstream.name} service.",
                headers={"Retry-After": "1", "Server-Timing": timing()},
            ) from None
        except httpx.TimeoutException:
            self._record_failure(upstream, ticket, "timeout")
            raise Problem(
                504,
                f"The {upstream.name} service did not answer in time.",
                headers={"Server-Timing": timing()},
            ) from None
        except httpx.TransportError as error:
            self._record_failure(upstream, ticket, "unreachable", error)
            raise Problem(
                502,
                f"The {upstream.name} service could not be reached.",
                headers={"Server-Timing": timing()},
            ) from None
        self._upstream_duration[upstream.name].observe(time.perf_counter() - sent_at)
        if answer.status_code in _FAILURE_STATUSES:
            self._record_failure(upstream, ticket, "status")
        else:
            upstream.breaker.record_success(ticket)
        return answer

    async def _send_with_retry(
        self, upstream: Upstream, build: Callable[[], httpx.Request], is_retry_safe: bool
    ) -> httpx.Response:
        """Send; once more when that cannot do a request twice: the connection was never made
        (nothing was sent), or the method is idempotent and has no body to replay."""
        try:
            return await upstream.transport.handle_async_request(build())
        except (httpx.ConnectError, httpx.ConnectTimeout):
            pass
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A pooled connection the upstream had closed, or a reset: safe to repeat only
            # when repeating changes nothing.
            if not is_retry_safe:
                raise
        self.metrics.upstream_retries.labels(upstream.name).inc()
        return await upstream.transport.handle_async_request(build())

    def _record_failure(
        self, upstream: Upstream, ticket: int, kind: str, error: Exception | None = None
    ) -> None:
        upstream.breaker.record_failure(ticket)
        self.metrics.upstream_failures.labels(upstream.name, kind).inc()
        if kind != "status":
            logger.warning(
                "upstream_failed",
                extra={"upstream": upstream.name, "kind": kind, "error": repr(error)},
            )
