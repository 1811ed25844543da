"""The pipeline, its steps in the request's trace: the token check, the rate limit and the
circuit each a span, with what it decided. (The upstream call is a span of the transport's,
`shared.client_spans`; the request itself the server span, `shared.server_spans`.)

Used only while tracing is on. A request that is not sampled goes through the plain pipeline,
at the price of one look at its trace (`shared.trace_ids`).
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry.trace import Span
from starlette.types import Receive, Scope, Send

from gateway.config import GatewaySettings
from gateway.exchange import Exchange
from gateway.metrics import GatewayMetrics
from gateway.pipeline import Pipeline
from gateway.rate_limit import RateLimiter
from gateway.routes import ProxyRoute
from gateway.upstreams import Upstream
from shared.identity import Unauthorized
from shared.tokens import Identity, Verifier
from shared.trace_ids import is_recording_trace
from shared.tracing import Tracing


class TracedPipeline(Pipeline):
    def __init__(
        self,
        upstreams: Mapping[str, Upstream],
        verifier: Verifier,
        rate_limiter: RateLimiter,
        metrics: GatewayMetrics,
        settings: GatewaySettings,
        tracing: Tracing,
    ) -> None:
        super().__init__(upstreams, verifier, rate_limiter, metrics, settings, traced=True)
        self.untraced = Pipeline(upstreams, verifier, rate_limiter, metrics, settings)
        self.tracer = tracing.tracer(__name__)
        self.rate_limit_store = "memory" if settings.redis_url is None else "redis"

    def handle(
        self, scope: Scope, receive: Receive, send: Send, route: ProxyRoute
    ) -> Coroutine[Any, Any, None]:
        # The chosen pipeline's coroutine itself, not one awaiting it: every resumption of a
        # request passes through each coroutine of its chain.
        if is_recording_trace():
            return super().handle(scope, receive, send, route)
        return self.untraced.handle(scope, receive, send, route)

    async def _identify(self, exchange: Exchange) -> Identity:
        with self._step("authenticate") as span:
            try:
                identity = await super()._identify(exchange)
            except Unauthorized as refusal:
                span.set_attributes(
                    {"gateway.auth.outcome": "refused", "gateway.auth.reason": refusal.reason}
                )
                raise
            span.set_attributes(
                {
                    "gateway.auth.outcome": "verified",
                    "user.id": str(identity.user_id),
                    "user.roles": [identity.role],
                }
            )
            return identity

    async def _limit(self, exchange: Exchange) -> None:
        with self._step("rate limit") as span:
            span.set_attributes(
                {
                    "gateway.rate_limit.bucket": "user" if exchange.identity else "address",
                    "gateway.rate_limit.store": self.rate_limit_store,
                }
            )
            try:
                await super()._limit(exchange)
            finally:
                if (decision := exchange.limit) is not None:
                    span.set_attributes(
                        {
                            "gateway.rate_limit.allowed": decision.is_allowed,
                            "gateway.rate_limit.remaining": decision.remaining,
                        }
                    )

    def _admit(self, exchange: Exchange) -> None:
        upstream = exchange.upstream
        with self._step("circuit") as span:
            span.set_attribute("gateway.upstream", upstream.name)
            try:
                super()._admit(exchange)
            finally:
                span.set_attributes(
                    {
                        "gateway.circuit.state": str(upstream.breaker.state),
                        "gateway.circuit.admitted": exchange.ticket is not None,
                    }
                )

    def _step(self, name: str) -> AbstractContextManager[Span]:
        # A refusal raised through a step is its outcome, not a failure of the gateway.
        return self.tracer.start_as_current_span(
            name, record_exception=False, set_status_on_exception=False
        )
