"""The gateway's own metrics, beside the request metrics every service has."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.upstream_duration = Histogram(
            "gateway_upstream_duration_seconds",
            "Time from sending a request upstream to its response headers, by upstream.",
            ["upstream"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.upstream_failures = Counter(
            "gateway_upstream_failures_total",
            "Requests an upstream failed, by upstream and kind (unreachable, timeout, status).",
            ["upstream", "kind"],
            registry=registry,
        )
        self.upstream_retries = Counter(
            "gateway_upstream_retries_total",
            "Requests sent again after a failure that made it safe to, by upstream.",
            ["upstream"],
            registry=registry,
        )
        self.auth_failures = Counter(
            "gateway_auth_failures_total",
            "Requests refused with 401, by reason.",
            ["reason"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "gateway_rate_limited_total",
            "Requests refused with 429.",
            registry=registry,
        )
        self.circuit_open = Counter(
            "gateway_circuit_open_total",
            "Requests refused with 503 because their upstream's circuit was open, by upstream.",
            ["upstream"],
            registry=registry,
        )
