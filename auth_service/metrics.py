"""The auth service's own metrics: how sign-ins, registrations and refreshes turn out."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class AuthMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.logins = Counter(
            "auth_logins_total",
            "Password grants, by outcome: success, invalid_credentials or throttled.",
            ["outcome"],
            registry=registry,
        )
        self.registrations = Counter(
            "auth_registrations_total",
            "Registrations, by outcome: created, email_taken, throttled or busy.",
            ["outcome"],
            registry=registry,
        )
        self.refreshes = Counter(
            "auth_refreshes_total",
            "Refresh token grants, by outcome: success, invalid or reused.",
            ["outcome"],
            registry=registry,
        )
