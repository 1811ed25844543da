"""Settings every service shares; each service subclasses them with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


# Lists read from one environment variable, comma-separated: `a.pem,b.pem`.
CommaSeparatedStrings = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_commas)]
CommaSeparatedPaths = Annotated[tuple[Path, ...], NoDecode, BeforeValidator(_split_commas)]


# Every setting has a description: the README's configuration table is generated from them
# (`python -m <service> settings` prints them), and a test keeps the two in step.


# The samplers of the OpenTelemetry specification (`OTEL_TRACES_SAMPLER`).
TraceSampler = Literal[
    "parentbased_traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "traceidratio",
    "always_on",
    "always_off",
]
# One trace in a hundred: what tracing costs stays well within a tenth of a request's CPU
# (bench/README.md), and a busy service still sends plenty of whole traces.
DEFAULT_TRACE_RATIO = 0.01


class TracingSettings(BaseSettings):
    """Where traces go and how many are kept: OpenTelemetry's standard variables, without a
    service prefix, so that one set configures every service (and the SDK reads the rest of
    its own: `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`, ...)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="The OpenTelemetry collector (OTLP over HTTP/protobuf, e.g."
        " `http://otel-collector:4318`); spans go to its `/v1/traces`. Unset (and no traces"
        " endpoint): no tracing at all.",
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        description="The full URL spans are sent to, if not the endpoint's `/v1/traces`.",
    )
    otel_service_name: str | None = Field(
        default=None,
        validation_alias="OTEL_SERVICE_NAME",
        description="The name spans carry as `service.name`; unset: the service's own"
        " (`gateway`, `auth_service`, `order_service`).",
    )
    otel_traces_sampler: TraceSampler = Field(
        default="parentbased_traceidratio",
        validation_alias="OTEL_TRACES_SAMPLER",
        description="Which requests are traced: by default a caller's decision (its"
        " `traceparent`) is followed, and a new trace is kept at the ratio below.",
    )
    otel_traces_sampler_arg: float = Field(
        default=DEFAULT_TRACE_RATIO,
        ge=0,
        le=1,
        validation_alias="OTEL_TRACES_SAMPLER_ARG",
        description="The share of new traces kept by the ratio samplers.",
    )
    otel_sdk_disabled: bool = Field(
        default=False,
        validation_alias="OTEL_SDK_DISABLED",
        description="`true` turns tracing off, whatever else is set.",
    )

    @field_validator("otel_exporter_otlp_endpoint", "otel_exporter_otlp_traces_endpoint")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        # Compose passes `${OTEL_EXPORTER_OTLP_ENDPOINT:-}`: empty when tracing is not wanted.
        return value or None

    @property
    def otlp_traces_url(self) -> str | None:
        """Where spans are sent (the specification's rule for the two variables), if anywhere."""
        if self.otel_sdk_disabled:
            return None
        if self.otel_exporter_otlp_traces_endpoint:
            return self.otel_exporter_otlp_traces_endpoint
        if self.otel_exporter_otlp_endpoint:
            return self.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return None


class ServiceSettings(TracingSettings):
    """Process-level settings: where to listen, how to log, where traces go, which environment
    this is."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["development", "production"] = Field(
        default="development",
        description="`production` refuses development conveniences (today: the auth"
        " service's generated signing key).",
    )
    host: str = Field(default="127.0.0.1", description="The address to listen on.")
    port: int = Field(default=8000, description="The port to listen on.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The least severe log level written."
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies believed when they name the client in `X-Forwarded-For`/`-Proto`:"
        " comma-separated addresses or networks, or `*` where only they can reach the service.",
    )

    # What one connection may hold (shared/http_protocol.py); the defaults are nginx's and
    # Apache's (8 KiB a line, 32 KiB a head, 100 fields).
    max_request_head_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="A request head (request line and header fields) larger than this gets 431.",
    )
    max_request_target_bytes: int = Field(
        default=8 * 1024,
        ge=256,
        description="A request target (path and query) longer than this gets 414.",
    )
    max_header_field_bytes: int = Field(
        default=8 * 1024,
        ge=256,
        description="A header field (name and value) longer than this gets 431.",
    )
    max_header_fields: int = Field(
        default=100, ge=1, description="A request with more header fields than this gets 431."
    )
    request_head_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request head must be complete this long after its first byte (a new"
        " connection's: after connecting); else the connection is closed, with a 408 if part"
        " of the head came.",
    )
    keep_alive_timeout_seconds: int = Field(
        default=5,
        ge=1,
        description="An idle keep-alive connection is closed after this long; keep it longer"
        " than the idle timeout of what pools connections to the service (the gateway's: 2 s).",
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections per process; one more is answered 503 and closed.",
    )


class DatabaseSettings(BaseSettings):
    """Where a service keeps its data: an embedded SQLite file by default, Postgres in earnest."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    database_url: str = Field(description="The database: `postgresql://…`, or a SQLite file.")
    database_pool_size: int = Field(
        default=10, ge=1, description="Connections kept open to Postgres, per process."
    )
    database_max_overflow: int = Field(
        default=10, ge=0, description="Connections opened beyond the pool under load."
    )
    database_pool_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Waiting for a free connection longer than this is a 503."
    )
    # asyncpg's own default is 60 s: a hung server would hold requests that long.
    database_connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Opening a connection gives up after this long (then 503).",
    )
    # Below the gateway's upstream timeout (10 s), so that clients get the service's answer.
    database_command_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A statement is cancelled after this long (then 503), by the service and"
        " by Postgres (`statement_timeout`); also SQLite's wait for another writer's lock.",
    )


class TokenSettings(BaseSettings):
    """Who issues the platform's access tokens and for whom; the same on every service."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    jwt_issuer: str = Field(
        default="http://localhost:8000",
        description="The tokens' `iss`: the gateway's public URL.",
    )
    jwt_audience: str = Field(default="order-platform", description="The tokens' `aud`.")
    jwt_leeway_seconds: int = Field(
        default=30,
        ge=0,
        le=300,
        description="Clock skew tolerated between the issuer and a verifier.",
    )


class TokenVerificationSettings(TokenSettings):
    """Where a service that does not hold the keys fetches them (the auth service's JWKS)."""

    jwks_url: str = Field(
        default="http://127.0.0.1:8001/.well-known/jwks.json",
        description="The auth service's published keys.",
    )
    jwks_cache_seconds: int = Field(
        default=300,
        ge=1,
        description="How long keys are kept when the JWKS response names no `max-age`.",
    )
    jwks_min_refresh_seconds: float = Field(
        default=10.0,
        ge=0,
        description="A token with an unknown `kid` refetches the keys at most this often.",
    )
    verified_token_cache_size: int = Field(
        default=10_000,
        ge=0,
        description="Verified tokens remembered until their `exp` (0 turns this off).",
    )
