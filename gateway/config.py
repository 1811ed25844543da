"""The gateway's settings, read from `GATEWAY_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommaSeparatedStrings, ServiceSettings, TokenVerificationSettings


class GatewaySettings(ServiceSettings, TokenVerificationSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    port: int = 8000
    auth_url: str = "http://127.0.0.1:8001"
    orders_url: str = "http://127.0.0.1:8002"

    # Per upstream: a keep-alive pool of this size, and how long a request may take (a route
    # of the table may take less).
    upstream_max_connections: int = Field(default=100, ge=1)
    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    upstream_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long a request waits for a free pooled connection before 503 (the gateway's own
    # limit, which must not count against the upstream).
    upstream_pool_timeout_seconds: float = Field(default=1.0, gt=0)
    # A client pausing longer than this within its request body gets 408.
    client_body_timeout_seconds: float = Field(default=10.0, gt=0)

    # Request bodies larger than this are refused with 413, streamed or not.
    max_body_bytes: int = Field(default=1024 * 1024, ge=0)

    # Circuit breaker, per upstream: this many failures in a row (refused, reset, timed out,
    # or 502/503/504) open it; it stays open (503) this long, then lets one request try.
    circuit_failure_threshold: int = Field(default=5, ge=1)
    circuit_open_seconds: float = Field(default=10.0, gt=0)

    # Rate limiting, a token bucket per user (per client address when anonymous): a burst
    # of `rate_limit_burst` requests, refilled at `rate_limit_per_second`. In memory unless
    # `redis_url` is set, which makes every gateway replica spend from one budget.
    rate_limit_per_second: float = Field(default=20.0, gt=0)
    rate_limit_burst: int = Field(default=40, ge=1)
    redis_url: str | None = None

    # CORS: origins allowed to call the API from a browser (comma-separated); none by default.
    cors_allow_origins: CommaSeparatedStrings = ()

    # Tokens verified already, remembered until they expire (0 turns the cache off).
    verified_token_cache_size: int = Field(default=10_000, ge=0)

    # How long the merged OpenAPI document is served before the upstreams' are fetched again.
    openapi_cache_seconds: float = Field(default=60.0, ge=0)
