"""What the order service's handlers are given: its store, settings, metrics, and the rule
of where webhooks may go."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from order_service.config import OrdersSettings
from order_service.metrics import OrderMetrics
from order_service.store import Store
from order_service.webhook_addresses import AddressPolicy


# `async def`: FastAPI runs a plain `def` dependency in a worker thread.
async def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def _settings(request: Request) -> OrdersSettings:
    settings: OrdersSettings = request.app.state.settings
    return settings


async def _order_metrics(request: Request) -> OrderMetrics:
    metrics: OrderMetrics = request.app.state.order_metrics
    return metrics


async def _address_policy(request: Request) -> AddressPolicy:
    policy: AddressPolicy = request.app.state.address_policy
    return policy


StoreDep = Annotated[Store, Depends(_store)]
Settings = Annotated[OrdersSettings, Depends(_settings)]
Metrics = Annotated[OrderMetrics, Depends(_order_metrics)]
WebhookAddresses = Annotated[AddressPolicy, Depends(_address_policy)]
