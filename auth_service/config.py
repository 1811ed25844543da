"""The auth service's settings, read from `AUTH_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.housekeeping import HousekeepingSettings
from shared.settings import CommaSeparatedPaths, DatabaseSettings, ServiceSettings, TokenSettings


class AuthSettings(ServiceSettings, DatabaseSettings, HousekeepingSettings, TokenSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", frozen=True)

    port: int = Field(default=8001, description="The port to listen on.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/auth.db",
        description="The database: `postgresql://…`, or a SQLite file.",
    )

    access_token_ttl_seconds: int = Field(
        default=900, ge=60, le=86_400, description="Access tokens' lifetime."
    )
    refresh_token_ttl_seconds: int = Field(
        default=14 * 86_400,
        ge=300,
        description="A refresh token unused this long expires (each use rotates it).",
    )
    sign_in_max_age_seconds: int = Field(
        default=90 * 86_400,
        ge=300,
        description="A sign-in ends this long after its password grant, however refreshed.",
    )

    # In development a key is generated once into `development_key_file`, so that restarts
    # keep issued tokens valid.
    private_key_file: Path | None = Field(
        default=None,
        description="The RS256 signing key (PEM), mounted from a secret; required in production.",
    )
    development_key_file: Path = Field(
        default=Path("var/auth-signing-key.pem"),
        description="Where development generates its key when no key file is given.",
    )
    # README, "Rotating the signing key".
    verification_key_files: CommaSeparatedPaths = Field(
        default=(),
        description="More keys to publish (comma-separated PEM files): the previous signing key"
        " until its tokens expire, the next one before it signs.",
    )
    jwks_max_age_seconds: int = Field(
        default=300, ge=0, description="How long verifiers may cache the published keys."
    )

    # By default RFC 9106's second recommended profile (64 MiB, 3 passes, 4 lanes).
    password_hash_time_cost: int = Field(default=3, ge=1, description="argon2id passes.")
    password_hash_memory_kib: int = Field(
        default=65_536, ge=8, description="argon2id memory per hash, in KiB."
    )
    password_hash_parallelism: int = Field(default=4, ge=1, description="argon2id lanes.")
    # Every hash in progress holds its whole `password_hash_memory_kib`: a burst of logins
    # exhausts memory long before anything else, so the memory bounds how many run at once.
    password_hashing_memory_budget_mib: int = Field(
        default=128,
        ge=1,
        description="The memory the hashes in progress may take together; how many run at once"
        " follows from it.",
    )
    password_hashing_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="Hashes computed at once, off the event loop; unset: as many as the memory"
        " budget holds, at most one per core.",
    )

    login_window_seconds: int = Field(
        default=900, ge=1, description="The window in which sign-in attempts are counted."
    )
    login_max_attempts_per_account: int = Field(
        default=10, ge=1, description="Attempts per account and window before 429."
    )
    login_max_attempts_per_address: int = Field(
        default=100, ge=1, description="Attempts per client address and window before 429."
    )

    registration_window_seconds: int = Field(
        default=3600, ge=1, description="The window in which registrations are counted."
    )
    registration_max_per_address: int = Field(
        default=20,
        ge=1,
        description="Registrations per client address and window before 429 (an IPv6 client"
        " counts by its /64).",
    )
    # Registrations from many addresses at once can outrun the hasher. Queued without bound,
    # they would fill the gateway's connections to this service, or time out there (15 s)
    # and open its circuit: either refuses sign-ins too.
    registration_max_queued: int = Field(
        default=10,
        ge=0,
        description="Registrations that may wait for the password hasher at once, per replica;"
        " more get 429 with Retry-After.",
    )
    registration_max_hashing_wait_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A registration that waits longer than this for the password hasher gets"
        " 429 with Retry-After.",
    )

    housekeeping_interval_seconds: float = Field(
        default=3600,
        gt=0,
        description="Expired refresh tokens and attempt counters are deleted this often.",
    )

    admin_email: str | None = Field(
        default=None,
        description="With the password: an admin account created at start-up if the email has"
        " none (an existing account is never promoted).",
    )
    admin_password: SecretStr | None = Field(
        default=None, description="The password of the admin account created at start-up."
    )

    @model_validator(mode="after")
    def _hashing_fits_its_memory_budget(self) -> AuthSettings:
        # Refused at start-up: a budget that is silently exceeded bounds nothing.
        hashes_at_once = self.password_hashing_concurrency or 1
        needed_mib = -(-hashes_at_once * self.password_hash_memory_kib // 1024)
        budget_mib = self.password_hashing_memory_budget_mib
        if needed_mib > budget_mib:
            raise ValueError(
                f"{hashes_at_once} argon2id hash(es) at once of AUTH_PASSWORD_HASH_MEMORY_KIB"
                f" ({self.password_hash_memory_kib}) need {needed_mib} MiB, more than"
                f" AUTH_PASSWORD_HASHING_MEMORY_BUDGET_MIB ({budget_mib})"
            )
        return self
