"""Builds the order service's app; its resources open in the lifespan (`OrdersState`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from order_service.api import install_api
from order_service.config import OrdersSettings
from order_service.housekeeping import delete_expired_records
from order_service.metrics import OrderMetrics
from order_service.state import OrdersState
from order_service.store import Store
from order_service.webhook_addresses import AddressPolicy, Resolver, resolve
from shared.database import create_engine
from shared.database_outage import install_database_outage_handler
from shared.jwks import remote_token_verifier
from shared.metrics import ServiceMetrics
from shared.periodic import running_periodically
from shared.service import create_service_app, platform_middleware
from shared.tracing import flushed_at_exit, start_tracing


def create_app(
    settings: OrdersSettings | None = None,
    metrics: ServiceMetrics | None = None,
    *,
    resolver: Resolver = resolve,
) -> FastAPI:
    """The app, its metrics in `metrics` (a registry of its own unless given); `resolver`
    finds the addresses of webhooks' hosts (tests give their own)."""
    settings = settings or OrdersSettings()
    metrics = metrics or ServiceMetrics()
    order_metrics = OrderMetrics(metrics.registry)
    tracing = start_tracing(settings, "order_service")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[OrdersState]:
        async with (
            # Exited last: the spans of everything below reach the collector.
            flushed_at_exit(tracing),
            Store(create_engine(settings, tracing), tracing, settings=settings) as store,
            # The service verifies every bearer token itself: it trusts no network.
            remote_token_verifier(settings, tracing) as (verifier, jwks),
            running_periodically(
                lambda: delete_expired_records(store, settings),
                name="delete_expired_records",
                interval_seconds=settings.housekeeping_interval_seconds,
                tracing=tracing,
            ),
        ):
            yield {
                "settings": settings,
                "store": store,
                "verifier": verifier,
                "jwks": jwks,
                "metrics": metrics,
                "order_metrics": order_metrics,
                "address_policy": AddressPolicy.from_settings(settings, resolver),
            }

    async def database_answers(state: OrdersState) -> None:
        await state["store"].check()

    async def keys_loaded(state: OrdersState) -> None:
        await state["jwks"].ensure_loaded()

    app = create_service_app(
        title="Order service",
        description="The product catalogue with its stock, and orders.",
        lifespan=lifespan,
        readiness_checks={"database": database_answers, "verification_keys": keys_loaded},
        metrics=metrics,
        middleware=platform_middleware(metrics, tracing),
    )
    install_database_outage_handler(app)
    install_api(app)
    return app
