"""The order service's HTTP layer: its routers, and its domain errors' problem responses."""

from __future__ import annotations

from fastapi import FastAPI

from order_service.api.events import router as events_router
from order_service.api.orders import router as orders_router
from order_service.api.problems import install_problems
from order_service.api.products import router as products_router
from order_service.api.webhooks import router as webhooks_router


def install_api(app: FastAPI) -> None:
    app.include_router(products_router)
    app.include_router(orders_router)
    app.include_router(events_router)
    app.include_router(webhooks_router)
    install_problems(app)
