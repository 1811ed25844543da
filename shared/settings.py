"""Settings every service shares; each service subclasses them with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


# Lists read from one environment variable, comma-separated: `a.pem,b.pem`.
CommaSeparatedStrings = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]
CommaSeparatedPaths = Annotated[tuple[Path, ...], NoDecode, BeforeValidator(_split_commas)]


class ServiceSettings(BaseSettings):
    """Process-level settings: where to listen, how to log, which environment this is."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # Production refuses development conveniences (such as a generated signing key).
    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Peers trusted to say who the client is (X-Forwarded-For/-Proto): the proxies in front
    # of the service, as comma-separated addresses or networks, or "*" where only they can
    # reach it. Everyone else's forwarded headers are ignored.
    forwarded_allow_ips: str = "127.0.0.1"


class DatabaseSettings(BaseSettings):
    """Where a service keeps its data: an embedded SQLite file by default, Postgres in earnest."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    # Opening a connection (TCP, TLS, authentication) gives up after this long, so that an
    # unreachable or hung server answers 503 instead of hanging (asyncpg's default is 60 s).
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # One statement is cancelled after this long and its request answered 503; below the
    # gateway's upstream timeout (10 s), so that clients get the service's own answer.
    database_command_timeout_seconds: float = Field(default=5.0, gt=0)


class TokenSettings(BaseSettings):
    """Who issues the platform's access tokens and for whom; the same on every service."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    jwt_issuer: str = "http://localhost:8000"
    jwt_audience: str = "order-platform"
    # Tolerated clock skew between the issuer and a verifier.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)


class TokenVerificationSettings(TokenSettings):
    """Where a service that does not hold the keys fetches them (the auth service's JWKS)."""

    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    # Used when the JWKS response carries no Cache-Control max-age.
    jwks_cache_seconds: int = Field(default=300, ge=1)
    # A token with an unknown kid triggers a refetch at most this often.
    jwks_min_refresh_seconds: float = Field(default=10.0, ge=0)
