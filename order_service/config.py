"""The order service's settings, read from `ORDERS_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import DatabaseSettings, ServiceSettings, TokenVerificationSettings


class OrdersSettings(ServiceSettings, DatabaseSettings, TokenVerificationSettings):
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
        default=3600, gt=0, description="Expired idempotency keys are deleted this often."
    )
