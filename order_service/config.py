"""The order service's settings, read from `ORDERS_*` environment variables."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.housekeeping import HousekeepingSettings
from shared.settings import DatabaseSettings, ServiceSettings, TokenVerificationSettings


class OrdersSettings(
    ServiceSettings, DatabaseSettings, HousekeepingSettings, TokenVerificationSettings
):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore", frozen=True)

    port: int = Field(default=8002, description="The port to listen on.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/orders.db",
        description="The database: `postgresql://…`, or a SQLite file.",
    )
    # The contract promises at least 24 hours.
    idempotency_key_ttl_seconds: int = Field(
        default=86_400, ge=86_400, description="How long an `Idempotency-Key` is remembered."
    )
    housekeeping_interval_seconds: float = Field(
        default=3600,
        gt=0,
        description="Expired idempotency keys, and events and webhook attempts past their"
        " retention, are deleted this often.",
    )
    event_retention_seconds: int = Field(
        default=2_592_000,
        ge=3600,
        description="Events older than this leave the feed (`GET /events`), oldest first;"
        " never before the webhook relay has passed them and finished their deliveries.",
    )
    webhook_attempt_retention_seconds: int = Field(
        default=2_592_000,
        ge=3600,
        description="Webhook delivery attempts older than this are deleted.",
    )

    webhook_allow_private_addresses: bool = Field(
        default=False,
        description="Let webhooks reach private, loopback, link-local and other non-public"
        " addresses. For development and tests only: in production a webhook must not reach"
        " the internal network.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A delivery attempt fails after this long without an answer (connecting"
        " included); also the bound on resolving a webhook's host when it is registered.",
    )
    webhook_disable_after_seconds: float = Field(
        default=86_400,
        gt=0,
        description="An endpoint whose every delivery attempt has failed for this long is"
        " disabled, and says why.",
    )
    relay_port: int = Field(
        default=8003, description="The relay's port, for its health and metrics only."
    )
    relay_poll_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often an idle relay looks for new events and deliveries that are due.",
    )
    relay_batch_size: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Events the relay turns into deliveries per transaction, and deliveries"
        " it claims at most at once.",
    )
    relay_concurrency: int = Field(
        default=16, ge=1, le=1000, description="Deliveries in flight at once, per relay."
    )
    relay_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A delivery a relay claimed is anyone's again after this long (when that"
        " relay died mid-delivery); longer than a delivery attempt may take.",
    )
    relay_drain_seconds: float = Field(
        default=15.0,
        ge=0,
        description="On SIGTERM the relay stops claiming and gives the deliveries in flight"
        " this long to finish.",
    )

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Self:
        # Otherwise a slow attempt would still be running when another relay takes it over.
        if self.relay_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "ORDERS_RELAY_LEASE_SECONDS must exceed ORDERS_WEBHOOK_TIMEOUT_SECONDS"
            )
        return self
