"""The gateway's settings, read from `GATEWAY_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, TokenVerificationSettings


class GatewaySettings(ServiceSettings, TokenVerificationSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    port: int = 8000
    auth_url: str = "http://127.0.0.1:8001"
    orders_url: str = "http://127.0.0.1:8002"

    # Per upstream: a keep-alive pool of this size, and how long a request may take.
    upstream_max_connections: int = Field(default=100, ge=1)
    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    upstream_timeout_seconds: float = Field(default=10.0, gt=0)
