"""Builds the order service's app; resources open in the lifespan and live on `app.state`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from order_service.api import install_api
from order_service.config import OrdersSettings
from order_service.idempotency import forget_expired_keys
from order_service.metrics import OrderMetrics
from order_service.store import Store
from order_service.webhook_addresses import AddressPolicy, Resolver, resolve
from shared.database import create_engine
from shared.database_outage import install_database_outage_handler
from shared.jwks import check_verification_keys, remote_token_verifier
from shared.periodic import running_periodically
from shared.service import create_service_app


def create_app(settings: OrdersSettings | None = None, *, resolver: Resolver = resolve) -> FastAPI:
    """`resolver` finds the addresses of webhooks' hosts (tests give their own)."""
    settings = settings or OrdersSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.address_policy = AddressPolicy.from_settings(settings, resolver)
        # The service verifies every bearer token itself: it trusts no network.
        app.state.store = store = Store(create_engine(settings))
        async with (
            store,
            remote_token_verifier(settings) as (verifier, jwks),
            running_periodically(
                lambda: forget_expired_keys(store),
                name="delete_expired_idempotency_keys",
                interval_seconds=settings.housekeeping_interval_seconds,
            ),
        ):
            app.state.token_verifier = verifier
            app.state.jwks = jwks
            yield

    app = create_service_app(
        title="Order service",
        description="The product catalogue with its stock, and orders.",
        lifespan=lifespan,
        readiness_checks={
            "database": lambda request: request.app.state.store.check(),
            "verification_keys": check_verification_keys,
        },
    )
    app.state.order_metrics = OrderMetrics(app.state.metrics.registry)
    install_database_outage_handler(app)
    install_api(app)
    return app
