"""The relay's own metrics: attempts and how they went, deliveries finished, endpoints
disabled, and how far behind the feed it is."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "webhook_attempts_total",
            "Delivery attempts, by outcome: success (a 2xx answer) or failure.",
            ["outcome"],
            registry=registry,
        )
        self.attempt_duration = Histogram(
            "webhook_attempt_duration_seconds",
            "Time from connecting to the endpoint's answer (or to the failure).",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.finished = Counter(
            "webhook_deliveries_finished_total",
            "Deliveries done with, by result: delivered, or given_up after the last attempt.",
            ["result"],
            registry=registry,
        )
        self.endpoints_disabled = Counter(
            "webhook_endpoints_disabled_total",
            "Endpoints disabled because every attempt failed for too long.",
            registry=registry,
        )
        self.fan_out_lag = Gauge(
            "relay_fan_out_lag_seconds",
            "How long the last event queued for delivery had been in the feed: the relay's lag.",
            registry=registry,
        )
        self.rounds_failed = Counter(
            "relay_rounds_failed_total",
            "Rounds of the relay that failed (the database away, mostly); it tries again.",
            registry=registry,
        )
