"""The frame every service's app is built in: errors, request context, metrics, health."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import Lifespan

from shared.head import HeadAsGetMiddleware
from shared.health import ReadinessCheck, health_router
from shared.metrics import MetricsMiddleware, ServiceMetrics, metrics_router
from shared.problems import install_problem_handlers
from shared.request_context import RequestContextMiddleware


def create_service_app(  # noqa: PLR0913 - keyword-only options of one builder, most defaulted
    *,
    title: str,
    description: str,
    lifespan: Lifespan[FastAPI],
    readiness_checks: Mapping[str, ReadinessCheck],
    serves_own_docs: bool = True,
    middleware: Sequence[Middleware] = (),
    answers_head_as_get: bool = True,
    app_class: type[FastAPI] = FastAPI,
) -> FastAPI:
    """`serves_own_docs=False` leaves `/docs` and `/openapi.json` to the app (the gateway's
    document is its upstreams'); `middleware` (outermost first) runs inside the request
    context and metrics, so that what it answers is logged, counted and has a request id.
    `answers_head_as_get=False` leaves HEAD to the app (the gateway forwards it as it is)."""
    app = app_class(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/openapi.json" if serves_own_docs else None,
        docs_url="/docs" if serves_own_docs else None,
        redoc_url="/redoc" if serves_own_docs else None,
        # No redirect from `/products/` to `/products`: behind the gateway its Location would
        # name the service's internal address. Such a path is a 404 like any other.
        redirect_slashes=False,
        # The platform's metrics are Prometheus's (shared/metrics.py); FastAPI's OpenTelemetry
        # instrumentation would otherwise look for a configured provider on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    if answers_head_as_get:
        app.add_middleware(HeadAsGetMiddleware)
    for layer in reversed(middleware):
        app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    app.state.metrics = ServiceMetrics()
    install_problem_handlers(app)
    app.include_router(health_router(readiness_checks))
    app.include_router(metrics_router())
    # Added last is outermost: the request context wraps everything, metrics included.
    for layer in reversed(platform_middleware(app)):
        app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    return app


def platform_middleware(app: FastAPI) -> list[Middleware]:
    """What every request of every service goes through, outermost first: its request id,
    access log and last-resort 500, then its metrics."""
    return [
        Middleware(RequestContextMiddleware),
        Middleware(MetricsMiddleware, metrics=app.state.metrics),
    ]
