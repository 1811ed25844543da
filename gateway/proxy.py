"""Forwarding one request to its upstream: authenticate, limit, send (retrying where that is
safe), and stream the answer back; every way this can fail has its own status."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from gateway.body import BodyTooLarge, BodyTooSlow, declared_length, has_body, limited
from gateway.circuit import CircuitBreaker, CircuitOpen
from gateway.config import GatewaySettings
from gateway.headers import client_response_headers, upstream_request_headers
from gateway.metrics import GatewayMetrics
from gateway.rate_limit import RateLimiter, rate_limit_headers
from gateway.routes import IDEMPOTENT_METHODS, ProxyRoute
from shared.identity import bearer_token, unauthorized
from shared.problems import Problem
from shared.request_context import current_request_id
from shared.tokens import Identity, InvalidToken, Verifier

logger = logging.getLogger(__name__)

# Upstream answers that count against its circuit, like failing to answer at all.
_FAILURE_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Upstream:
    name: str
    client: httpx.AsyncClient
    breaker: CircuitBreaker


def _has_dot_segments(path: str) -> bool:
    """Whether the (percent-decoded) path has `.` or `..` segments."""
    return any(segment in {".", ".."} for segment in path.split("/"))


def _upstream_url(client: httpx.AsyncClient, request: Request) -> httpx.URL:
    """The upstream URL with the client's path and query exactly as they were sent."""
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    query: bytes = request.scope["query_string"]
    return client.base_url.copy_with(raw_path=raw_path + (b"?" + query if query else b""))


def _server_timing(**durations: float) -> str:
    return ", ".join(f"{name};dur={seconds * 1000:.1f}" for name, seconds in durations.items())


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

    async def handle(self, request: Request, route: ProxyRoute) -> Response:
        if _has_dot_segments(request.scope["path"]):
            # Upstreams (and httpx) would resolve them: `/auth/../metrics` must not escape.
            raise Problem(400, "The path must not contain `.` or `..` segments.")
        started_at = time.perf_counter()
        try:
            identity = None if route.is_public else await self._authenticate(request)
        except Problem as refusal:
            # A refused token still spends from its address's budget: a client spraying bad
            # tokens is limited like any anonymous one.
            refusal_headers = await self._spend_rate_limit(request, None)
            refusal.headers.update(
                {name.decode(): value.decode() for name, value in refusal_headers}
            )
            refusal.headers["Server-Timing"] = _server_timing(auth=time.perf_counter() - started_at)
            raise
        authenticated_at = time.perf_counter()
        limit_headers = await self._spend_rate_limit(request, identity)
        declared = declared_length(request)
        if declared is not None and declared > self.settings.max_body_bytes:
            raise self._too_large(limit_headers)
        upstream = self.upstreams[route.upstream]

        def timing() -> str:
            return _server_timing(
                auth=authenticated_at - started_at,
                upstream=time.perf_counter() - authenticated_at,
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
                request, route, upstream, ticket, identity, timing, limit_headers
            )
        except BaseException:
            # However the request ended, a half-open circuit's trial is over (failures of the
            # upstream were recorded already; this settles the rest, cancellation included).
            upstream.breaker.record_neither(ticket)
            raise
        response = StreamingResponse(
            self._relay(answer, upstream.name),
            status_code=answer.status_code,
            background=BackgroundTask(answer.aclose),
        )
        response.raw_headers = [
            *client_response_headers(answer.headers.raw),
            *limit_headers,
            (b"server-timing", timing().encode()),
        ]
        return response

    async def _authenticate(self, request: Request) -> Identity:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            self.metrics.auth_failures.labels("missing token").inc()
            raise unauthorized()
        try:
            return await self.verifier.verify(token)
        except InvalidToken as invalid:
            self.metrics.auth_failures.labels(invalid.reason).inc()
            raise unauthorized(invalid.reason) from None

    async def _spend_rate_limit(
        self, request: Request, identity: Identity | None
    ) -> list[tuple[bytes, bytes]]:
        """The RateLimit headers for the response; raises 429 when the budget is spent."""
        if identity is not None:
            key = f"user:{identity.user_id}"
        else:
            key = f"address:{request.client.host if request.client else 'unknown'}"
        decision = await self.rate_limiter.acquire(key)
        headers = rate_limit_headers(decision, self.settings)
        if not decision.is_allowed:
            self.metrics.rate_limited.inc()
            raise Problem(
                429,
                "Too many requests; slow down and retry later.",
                headers={
                    "Retry-After": str(decision.retry_after_seconds),
                    **{name.decode(): value.decode() for name, value in headers},
                },
            )
        return headers

    def _too_large(self, limit_headers: list[tuple[bytes, bytes]]) -> Problem:
        return Problem(
            413,
            f"The request body is larger than {self.settings.max_body_bytes} bytes.",
            headers={name.decode(): value.decode() for name, value in limit_headers},
        )

    async def _forward(
        self,
        request: Request,
        route: ProxyRoute,
        upstream: Upstream,
        ticket: int,
        identity: Identity | None,
        timing: Callable[[], str],
        limit_headers: list[tuple[bytes, bytes]],
    ) -> httpx.Response:
        """The upstream's answer (its body still to come), or the problem that replaces it."""
        headers = upstream_request_headers(
            request.headers.raw,
            identity=identity,
            request_id=current_request_id() or "",
            client_address=request.client.host if request.client else None,
            scheme=request.url.scheme,
        )
        body = (
            limited(
                request.stream(),
                self.settings.max_body_bytes,
                self.settings.client_body_timeout_seconds,
            )
            if has_body(request)
            else None
        )
        timeout = httpx.Timeout(
            route.timeout_seconds or self.settings.upstream_timeout_seconds,
            connect=self.settings.upstream_connect_timeout_seconds,
            pool=self.settings.upstream_pool_timeout_seconds,
        )
        is_retry_safe = request.method in IDEMPOTENT_METHODS and body is None

        def build() -> httpx.Request:
            return upstream.client.build_request(
                request.method,
                _upstream_url(upstream.client, request),
                headers=headers,
                content=body,
                timeout=timeout,
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
        self.metrics.upstream_duration.labels(upstream.name).observe(time.perf_counter() - sent_at)
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
            return await upstream.client.send(build(), stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            pass
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A pooled connection the upstream had closed, or a reset: safe to repeat only
            # when repeating changes nothing.
            if not is_retry_safe:
                raise
        self.metrics.upstream_retries.labels(upstream.name).inc()
        return await upstream.client.send(build(), stream=True)

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

    async def _relay(self, answer: httpx.Response, upstream: str) -> AsyncIterator[bytes]:
        """The upstream body as it arrives, undecoded; a failure midway cuts the response."""
        try:
            async for chunk in answer.aiter_raw():
                yield chunk
        except httpx.TransportError as error:
            logger.warning(
                "upstream_response_cut", extra={"upstream": upstream, "error": repr(error)}
            )
            raise
