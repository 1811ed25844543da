"""The auth service's settings, read from `AUTH_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import CommaSeparatedPaths, DatabaseSettings, ServiceSettings, TokenSettings


class AuthSettings(ServiceSettings, DatabaseSettings, TokenSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", frozen=True)

    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///./var/auth.db"

    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    # A refresh token not used for this long expires (each use rotates it and restarts this).
    refresh_token_ttl_seconds: int = Field(default=14 * 86_400, ge=300)
    # A sign-in ends this long after its password grant, however often it is refreshed.
    sign_in_max_age_seconds: int = Field(default=90 * 86_400, ge=300)

    # The RS256 signing key (PEM), mounted from a secret. Required in production; in
    # development a key is generated once into `development_key_file` so that restarts keep
    # issued tokens valid.
    private_key_file: Path | None = None
    development_key_file: Path = Path("var/auth-signing-key.pem")
    # More keys to publish in the JWKS, comma-separated PEM files (public or private): the
    # previous signing key until the tokens it signed have expired, and the next one for a
    # while before it starts signing. See "Rotating the signing key" in the README.
    verification_key_files: CommaSeparatedPaths = ()
    jwks_max_age_seconds: int = Field(default=300, ge=0)

    # argon2id, by default with RFC 9106's second recommended profile (64 MiB, 3 passes, 4 lanes).
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65_536, ge=8)
    password_hash_parallelism: int = Field(default=4, ge=1)
    # Each hash takes ~100 ms of CPU and its memory: this many run at once, off the event loop.
    password_hashing_concurrency: int = Field(default=4, ge=1)

    # Login throttling: attempts per account and per client address in a fixed window; a
    # successful login gives the attempt back. Over budget, the token endpoint answers 429.
    login_window_seconds: int = Field(default=900, ge=1)
    login_max_attempts_per_account: int = Field(default=10, ge=1)
    login_max_attempts_per_address: int = Field(default=100, ge=1)

    # How often expired refresh tokens and login counters are deleted.
    housekeeping_interval_seconds: float = Field(default=3600, gt=0)

    # Bootstrap: when both are set, this account exists and is an admin after start-up.
    admin_email: str | None = None
    admin_password: SecretStr | None = None
