"""The auth service's settings, read from `AUTH_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import DatabaseSettings, ServiceSettings, TokenSettings


class AuthSettings(ServiceSettings, DatabaseSettings, TokenSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", frozen=True)

    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///./var/auth.db"

    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)

    # The RS256 signing key (PEM). Required in production; in development a key is generated
    # once into `development_key_file` so that restarts keep issued tokens valid.
    private_key_file: Path | None = None
    development_key_file: Path = Path("var/auth-signing-key.pem")
    jwks_max_age_seconds: int = Field(default=300, ge=0)

    # argon2id, by default with RFC 9106's second recommended profile (64 MiB, 3 passes, 4 lanes).
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65_536, ge=8)
    password_hash_parallelism: int = Field(default=4, ge=1)
    # Each hash takes ~100 ms of CPU and its memory: this many run at once, off the event loop.
    password_hashing_concurrency: int = Field(default=4, ge=1)

    # Bootstrap: when both are set, this account exists and is an admin after start-up.
    admin_email: str | None = None
    admin_password: SecretStr | None = None
