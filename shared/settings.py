"""Settings every service shares; each service subclasses them with its own env prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Process-level settings: where to listen, how to log, which environment this is."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # Production refuses development conveniences (such as a generated signing key).
    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class DatabaseSettings(BaseSettings):
    """Where a service keeps its data: an embedded SQLite file by default, Postgres in earnest."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0)


class TokenVerificationSettings(BaseSettings):
    """How a service checks the access tokens the auth service issues."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    jwt_issuer: str = "http://localhost:8000"
    jwt_audience: str = "order-platform"
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    # Used when the JWKS response carries no Cache-Control max-age.
    jwks_cache_seconds: int = Field(default=300, ge=1)
    # A token with an unknown kid triggers a refetch at most this often.
    jwks_min_refresh_seconds: float = Field(default=10.0, ge=0)
