"""The frame every service's app is built in: errors, request context, metrics, health."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from starlette.types import Lifespan

from shared.health import ReadinessCheck, health_router
from shared.metrics import MetricsMiddleware, ServiceMetrics, metrics_router
from shared.problems import install_problem_handlers
from shared.request_context import RequestContextMiddleware


def create_service_app(
    *,
    title: str,
    description: str,
    lifespan: Lifespan[FastAPI],
    readiness_checks: Mapping[str, ReadinessCheck],
) -> FastAPI:
    app = FastAPI(title=title, description=description, version="0.1.0", lifespan=lifespan)
    app.state.metrics = ServiceMetrics()
    install_problem_handlers(app)
    app.include_router(health_router(readiness_checks))
    app.include_router(metrics_router())
    # Added last is outermost: the request context wraps everything, metrics included.
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestContextMiddleware)
    return app
