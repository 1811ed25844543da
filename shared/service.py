"""The frame every service's app is built in: errors, request context, metrics, health."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Lifespan

from shared.docs_page import install_docs_page
from shared.head import HeadAsGetMiddleware
from shared.health import ReadinessCheck, health_router
from shared.metrics import MetricsMiddleware, ServiceMetrics, metrics_router
from shared.openapi import install_service_document, operation_id
from shared.problem_pages import problem_pages_router
from shared.problems import install_problem_handlers
from shared.request_context import RequestContextMiddleware
from shared.server_spans import ServerSpanMiddleware
from shared.trace_ids import sampled_trace_exemplar
from shared.tracing import Tracing


def platform_middleware(metrics: ServiceMetrics, tracing: Tracing | None) -> list[Middleware]:
    """What every request of every service goes through, outermost first: its server span
    (while tracing is on, so that everything below is in it), its request id, access log
    and last-resort 500, then its metrics."""
    if tracing is None:
        return [
            Middleware(RequestContextMiddleware),
            Middleware(MetricsMiddleware, metrics=metrics),
        ]
    return [
        Middleware(ServerSpanMiddleware, tracing=tracing),
        Middleware(RequestContextMiddleware),
        Middleware(MetricsMiddleware, metrics=metrics, exemplar=sampled_trace_exemplar),
    ]


def wrapped(app: ASGIApp, middleware: Sequence[Middleware]) -> ASGIApp:
    """`app` inside `middleware`, the first outermost (as the framework stacks its own)."""
    for cls, args, kwargs in reversed(middleware):
        app = cls(app, *args, **kwargs)
    return app


def create_service_app(  # noqa: PLR0913 - keyword-only options of one builder, most defaulted
    *,
    title: str,
    description: str,
    lifespan: Lifespan[FastAPI],
    readiness_checks: Mapping[str, ReadinessCheck],
    metrics: ServiceMetrics,
    middleware: Sequence[Middleware],
    serves_own_docs: bool = True,
    answers_head_as_get: bool = True,
) -> FastAPI:
    """A service's framework app: problem responses, health, metrics and docs, inside
    `middleware` (outermost first: a service's own app takes `platform_middleware`).

    `serves_own_docs=False` leaves `/docs` and `/openapi.json` to the app (the gateway's
    document is its upstreams'). `answers_head_as_get=False` leaves HEAD to the app (the
    gateway forwards it as it is).
    """
    layers = list(middleware)
    if answers_head_as_get:
        layers.append(Middleware(HeadAsGetMiddleware))
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        middleware=layers,
        openapi_url="/openapi.json" if serves_own_docs else None,
        # `/docs` is the platform's own page (shared/docs_page.py): FastAPI's loads its script
        # from a CDN. No ReDoc: one documentation page is enough to keep safe.
        docs_url=None,
        redoc_url=None,
        # No redirect from `/products/` to `/products`: behind the gateway its Location would
        # name the service's internal address. Such a path is a 404 like any other.
        redirect_slashes=False,
        # The platform's metrics are Prometheus's (shared/metrics.py); FastAPI's OpenTelemetry
        # instrumentation would otherwise look for a configured provider on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        generate_unique_id_function=operation_id,
    )
    install_problem_handlers(app)
    install_service_document(app)
    if serves_own_docs:
        install_docs_page(app)
    app.include_router(health_router(readiness_checks))
    app.include_router(problem_pages_router())
    app.include_router(metrics_router(metrics.registry))
    return app
