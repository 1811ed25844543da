"""The order service's own metrics: orders placed and moved along their life cycle."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class OrderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.orders_created = Counter(
            "orders_created_total",
            "Orders placed (an idempotent replay is not counted again).",
            registry=registry,
        )
        self.order_actions = Counter(
            "order_actions_total",
            "Orders paid, shipped, delivered or cancelled, by action.",
            ["action"],
            registry=registry,
        )
