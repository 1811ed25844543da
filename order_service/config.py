"""The order service's settings, read from `ORDERS_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import DatabaseSettings, ServiceSettings, TokenVerificationSettings


class OrdersSettings(ServiceSettings, DatabaseSettings, TokenVerificationSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore", frozen=True)

    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///./var/orders.db"

    # An Idempotency-Key is remembered this long (the contract promises at least 24 hours).
    idempotency_key_ttl_seconds: int = Field(default=86_400, ge=86_400)
    # How often expired idempotency keys are deleted.
    housekeeping_interval_seconds: float = Field(default=3600, gt=0)
