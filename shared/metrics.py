"""Prometheus metrics: a registry per app, request metrics by route template, `/metrics`.

While tracing is on, a sampled request's duration is observed with its trace id as an
exemplar, so that a dashboard leads from a slow bucket to a trace of it; exemplars are
exposed in the OpenMetrics format, which `/metrics` answers in when the scraper asks for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Labels naming the trace an observation belongs to, or None (`shared.trace_ids`).
Exemplar = Callable[[], dict[str, str] | None]

# Requests no route matched share one label, so that scanners cannot explode cardinality.
UNMATCHED_ROUTE = "<unmatched>"


class ServiceMetrics:
    """The metrics of one app, in a registry of its own so that tests can build many apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "Time from request start to the end of the response, by method and route template.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        # Each label set's counter and histogram, looked up once: `labels()` takes a lock and
        # builds its key on every call.
        self._per_request: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe_request(
        self,
        method: str,
        route: str,
        status: int,
        seconds: float,
        exemplar: dict[str, str] | None = None,
    ) -> None:
        key = (method, route, status)
        metrics = self._per_request.get(key)
        if metrics is None:
            metrics = self._per_request[key] = (
                self.requests.labels(method, route, str(status)),
                self.request_duration.labels(method, route),
            )
        count, duration = metrics
        count.inc()
        duration.observe(seconds, exemplar)


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by the route template that served it;
    `exemplar` (while tracing is on) names the trace of each observation."""

    def __init__(
        self, app: ASGIApp, metrics: ServiceMetrics, exemplar: Exemplar | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.exemplar = exemplar

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started_at = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            # The router records the matched route in the scope; it is read once the app is done.
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.metrics.observe_request(
                scope["method"],
                template,
                status,
                time.perf_counter() - started_at,
                self.exemplar() if self.exemplar is not None else None,
            )


def metrics_router(registry: CollectorRegistry) -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        # OpenMetrics (with exemplars) for a scraper that asks for it, the classic text format
        # (without) for everyone else.
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), headers={"Content-Type": content_type})

    return router
