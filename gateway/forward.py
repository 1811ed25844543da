"""The forward step: the client's request sent to its upstream (once more when that cannot do
anything twice), and every way that can fail turned into its own problem."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from operator import attrgetter

import httpx
from starlette.requests import ClientDisconnect

from gateway.body import BodyTooLarge, BodyTooSlow, limited
from gateway.config import GatewaySettings
from gateway.exchange import Exchange
from gateway.headers import upstream_request_headers
from gateway.incoming import upstream_url
from gateway.metrics import GatewayMetrics
from gateway.routes import IDEMPOTENT_METHODS, ProxyRoute
from gateway.upstreams import Upstream
from shared.metrics import Exemplar
from shared.problem_types import (
    BAD_REQUEST,
    CONTENT_TOO_LARGE,
    GATEWAY_BUSY,
    REQUEST_TIMEOUT,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNREACHABLE,
)
from shared.problems import Problem
from shared.request_context import current_request_id
from shared.trace_ids import current_request_trace, sampled_trace_exemplar

logger = logging.getLogger(__name__)

# Upstream answers that count against its circuit, like failing to answer at all.
_FAILURE_STATUSES = frozenset({502, 503, 504})


def body_too_large(limit: int) -> Problem:
    return Problem(CONTENT_TOO_LARGE, f"The request body is larger than {limit} bytes.")


class Forwarder:
    def __init__(
        self, metrics: GatewayMetrics, settings: GatewaySettings, *, traced: bool = False
    ) -> None:
        """`traced`: for requests of sampled traces, each upstream call a span, each duration
        observed with its trace."""
        self.metrics = metrics
        self.settings = settings
        self.exemplar: Exemplar | None = sampled_trace_exemplar if traced else None
        self.transport_of: Callable[[Upstream], httpx.AsyncBaseTransport] = attrgetter(
            "traced_transport" if traced else "transport"
        )
        self._timeouts: dict[ProxyRoute, dict[str, float | None]] = {}
        # Looked up once: `labels()` takes a lock and builds its key on every call.
        self._upstream_duration: dict[str, Callable[[float, dict[str, str] | None], None]] = {}

    async def forward(self, exchange: Exchange) -> httpx.Response:
        """The upstream's answer (its body still to come), or the problem that replaces it;
        the upstream's circuit learns how it went."""
        upstream, ticket = exchange.upstream, exchange.ticket
        assert ticket is not None, "a request is admitted by its circuit before it is forwarded"
        sent_at = time.perf_counter()
        try:
            answer = await self._send_with_retry(exchange, self._request_builder(exchange))
        except BodyTooLarge:
            raise body_too_large(self.settings.max_body_bytes) from None
        except BodyTooSlow:
            raise Problem(REQUEST_TIMEOUT, "The request body did not arrive in time.") from None
        except ClientDisconnect:
            raise Problem(
                BAD_REQUEST, "The client went away before sending its whole body."
            ) from None
        except httpx.PoolTimeout:
            # The gateway's own limit, not the upstream's fault: no failure on its circuit.
            self.metrics.upstream_failures.labels(upstream.name, "pool_exhausted").inc()
            raise Problem(
                GATEWAY_BUSY,
                f"The gateway has too many requests in flight to the {upstream.name} service.",
                headers={"Retry-After": "1"},
            ) from None
        except httpx.TimeoutException:
            self._record_failure(upstream, ticket, "timeout")
            raise Problem(
                UPSTREAM_TIMEOUT, f"The {upstream.name} service did not answer in time."
            ) from None
        except httpx.TransportError as error:
            self._record_failure(upstream, ticket, "unreachable", error)
            raise Problem(
                UPSTREAM_UNREACHABLE, f"The {upstream.name} service could not be reached."
            ) from None
        finally:
            exchange.timings.upstream_seconds = time.perf_counter() - sent_at
        self._observe_duration(upstream.name, exchange.timings.upstream_seconds)
        if answer.status_code in _FAILURE_STATUSES:
            self._record_failure(upstream, ticket, "status")
        else:
            upstream.breaker.record_success(ticket)
        return answer

    def _request_builder(self, exchange: Exchange) -> Callable[[], httpx.Request]:
        """How to build the upstream request (built afresh for a retry)."""
        scope = exchange.scope
        headers = upstream_request_headers(
            scope["headers"],
            identity=exchange.identity,
            request_id=current_request_id() or "",
            client_address=exchange.client_address,
            scheme=scope["scheme"],
            trace=current_request_trace(),
        )
        body = (
            None
            if exchange.body is None
            else limited(
                aiter(exchange.body),
                self.settings.max_body_bytes,
                self.settings.client_body_timeout_seconds,
            )
        )
        url = upstream_url(exchange.upstream.origin, scope)
        extensions = {"timeout": self._timeout(exchange.route)}

        def build() -> httpx.Request:
            return httpx.Request(
                exchange.method, url, headers=headers, content=body, extensions=extensions
            )

        return build

    async def _send_with_retry(
        self, exchange: Exchange, build: Callable[[], httpx.Request]
    ) -> httpx.Response:
        """Send; once more when that cannot do a request twice: the connection was never made
        (nothing was sent), or the method is idempotent and has no body to replay."""
        upstream = exchange.upstream
        transport = self.transport_of(upstream)
        try:
            return await transport.handle_async_request(build())
        except (httpx.ConnectError, httpx.ConnectTimeout):
            pass
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A pooled connection the upstream had closed, or a reset: safe to repeat only
            # when repeating changes nothing.
            if exchange.method not in IDEMPOTENT_METHODS or exchange.body is not None:
                raise
        self.metrics.upstream_retries.labels(upstream.name).inc()
        return await transport.handle_async_request(build())

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

    def _observe_duration(self, upstream: str, seconds: float) -> None:
        observe = self._upstream_duration.get(upstream)
        if observe is None:
            observe = self._upstream_duration[upstream] = self.metrics.upstream_duration.labels(
                upstream
            ).observe
        observe(seconds, self.exemplar() if self.exemplar is not None else None)

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
