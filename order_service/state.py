"""What the order service's lifespan opens, and its handlers use (`shared.state`)."""

from __future__ import annotations

from order_service.config import OrdersSettings
from order_service.metrics import OrderMetrics
from order_service.store import Store
from order_service.webhook_addresses import AddressPolicy
from shared.jwks import JWKSCache
from shared.metrics import ServiceMetrics
from shared.state import VerifyingState


class OrdersState(VerifyingState):
    settings: OrdersSettings
    store: Store
    jwks: JWKSCache
    metrics: ServiceMetrics
    order_metrics: OrderMetrics
    # Where webhooks may be delivered (private addresses only if the settings allow).
    address_policy: AddressPolicy
