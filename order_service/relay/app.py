"""The relay's process: the loop runs in the app's lifespan, beside the platform's usual
`/health/live`, `/health/ready` (its database answers) and `/metrics`, on its own port.

Stopping (SIGTERM) ends the lifespan: the relay stops claiming and gives the deliveries in
flight `ORDERS_RELAY_DRAIN_SECONDS` to finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TypedDict

from fastapi import FastAPI

from order_service.config import OrdersSettings
from order_service.relay.metrics import RelayMetrics
from order_service.relay.retries import RetrySchedule
from order_service.relay.sender import WebhookSender
from order_service.relay.worker import Clock, Relay, RelayConfig
from order_service.store import Store
from order_service.webhook_addresses import AddressPolicy, Resolver, resolve
from shared.database import create_engine, utc_now
from shared.metrics import ServiceMetrics
from shared.service import create_service_app, platform_middleware


def relay_config(settings: OrdersSettings) -> RelayConfig:
    return RelayConfig(
        batch_size=settings.relay_batch_size,
        concurrency=settings.relay_concurrency,
        poll_interval=timedelta(seconds=settings.relay_poll_interval_seconds),
        lease=timedelta(seconds=settings.relay_lease_seconds),
        drain=timedelta(seconds=settings.relay_drain_seconds),
        disable_after=timedelta(seconds=settings.webhook_disable_after_seconds),
    )


class RelayState(TypedDict):
    store: Store


def create_relay_app(
    settings: OrdersSettings | None = None,
    *,
    resolver: Resolver = resolve,
    schedule: RetrySchedule | None = None,
    clock: Clock = utc_now,
    metrics: ServiceMetrics | None = None,
) -> FastAPI:
    """`resolver`, `schedule` and `clock` are the system's, unless a test brings its own."""
    settings = settings or OrdersSettings()
    metrics = metrics or ServiceMetrics()
    relay_metrics = RelayMetrics(metrics.registry)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[RelayState]:
        store = Store(create_engine(settings), settings=settings)
        sender = WebhookSender(
            AddressPolicy.from_settings(settings, resolver),
            timeout_seconds=settings.webhook_timeout_seconds,
            max_connections=settings.relay_concurrency,
        )
        async with store, sender:
            relay = Relay(
                store,
                sender,
                relay_config(settings),
                relay_metrics,
                schedule=schedule or RetrySchedule(),
                clock=clock,
            )
            running = asyncio.create_task(relay.run(), name="relay")
            try:
                yield {"store": store}
            finally:
                relay.stop()
                await running

    async def database_answers(state: RelayState) -> None:
        await state["store"].check()

    return create_service_app(
        title="Order relay",
        description="Delivers the order service's events to webhook endpoints.",
        lifespan=lifespan,
        readiness_checks={"database": database_answers},
        metrics=metrics,
        # Not traced yet: a delivery would continue the trace of the request that made its
        # event only if the event kept that trace's context, which it does not.
        middleware=platform_middleware(metrics, tracing=None),
        serves_own_docs=False,
    )
