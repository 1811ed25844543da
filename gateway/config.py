"""The gateway's settings, read from `GATEWAY_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import CommaSeparatedStrings, ServiceSettings, TokenVerificationSettings


class GatewaySettings(ServiceSettings, TokenVerificationSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    port: int = Field(default=8000, description="The port to listen on.")
    auth_url: str = Field(default="http://127.0.0.1:8001", description="The auth service.")
    orders_url: str = Field(default="http://127.0.0.1:8002", description="The order service.")

    upstream_transport: Literal["aiohttp", "httpx"] = Field(
        default="aiohttp",
        description="What sends to upstreams under httpx: aiohttp (the cheaper, see"
        " bench/HISTORY.md), or httpx's own.",
    )
    upstream_max_connections: int = Field(
        default=100, ge=1, description="Keep-alive connections to each upstream, at most."
    )
    upstream_connect_timeout_seconds: float = Field(
        default=2.0, gt=0, description="Connecting to an upstream gives up after this (502)."
    )
    upstream_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="An upstream answering slower than this gets a 504 (routes may set less).",
    )
    # The gateway's own limit, which must not count against the upstream.
    upstream_pool_timeout_seconds: float = Field(
        default=1.0, gt=0, description="Waiting for a free upstream connection: then 503."
    )
    client_body_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A client pausing this long within its body gets 408."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="Request bodies larger than this get 413, streamed or not.",
    )

    circuit_failure_threshold: int = Field(
        default=5,
        ge=1,
        description="Failures in a row (refused, reset, timed out, 502/503/504) that open an"
        " upstream's circuit.",
    )
    # Short, so that traffic resumes within 2 s of an upstream coming back; the doubling keeps
    # one that stays down from seeing more than a trial every second or so.
    circuit_trial_delay_seconds: float = Field(
        default=0.5,
        gt=0,
        description="An open circuit answers 503 this long (up to half less, at random), then"
        " lets one request try.",
    )
    circuit_max_trial_delay_seconds: float = Field(
        default=1.5,
        gt=0,
        description="Each failed trial doubles the pause before the next one, up to this.",
    )

    # Bounded so that a bucket's expiry in Redis (burst / rate) stays a sane integer.
    rate_limit_per_second: float = Field(
        default=20.0, ge=0.01, description="Each user's (or address's) bucket refills this fast."
    )
    rate_limit_burst: int = Field(
        default=40, ge=1, le=1_000_000, description="Requests a full bucket allows at once."
    )
    redis_url: str | None = Field(
        default=None,
        description="Buckets in Redis, shared by every replica; in memory when unset.",
    )

    cors_allow_origins: CommaSeparatedStrings = Field(
        default=(), description="Browser origins allowed to call the API (comma-separated)."
    )
    openapi_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="The merged OpenAPI document is rebuilt from the upstreams this often.",
    )

    @model_validator(mode="after")
    def _trial_delays_in_order(self) -> GatewaySettings:
        if self.circuit_max_trial_delay_seconds < self.circuit_trial_delay_seconds:
            raise ValueError(
                "GATEWAY_CIRCUIT_MAX_TRIAL_DELAY_SECONDS is below"
                " GATEWAY_CIRCUIT_TRIAL_DELAY_SECONDS"
            )
        return self
