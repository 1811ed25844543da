"""The order service's settings, read from `ORDERS_*` environment variables."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import DatabaseSettings, ServiceSettings, TokenVerificationSettings


class OrdersSettings(ServiceSettings, DatabaseSettings, TokenVerificationSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore", frozen=True)

    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///./var/orders.db"
