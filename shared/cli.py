"""What every service's command line shares: serving under uvicorn with our logging."""

from __future__ import annotations

import logging
import resource
from pathlib import Path
from typing import Any

import uvicorn
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from shared.http_protocol import guarded_protocol
from shared.logging import configure_logging, logging_config
from shared.settings import ServiceSettings

logger = logging.getLogger(__name__)


def server_config(app_factory: str, settings: ServiceSettings, service: str) -> uvicorn.Config:
    """How a service is served: `module:create_app`, our logging, graceful draining."""
    return uvicorn.Config(
        app_factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=logging_config(service, settings.log_level),
        access_log=False,  # RequestContextMiddleware writes the access log
        server_header=False,
        # The client address comes from X-Forwarded-For only when a trusted proxy sent it.
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=20,
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        # Named, not "auto", which falls back silently when they are missing: they are most
        # of a service's speed (bench/HISTORY.md). uvicorn[standard] brings both. The
        # httptools protocol runs within the settings' limits on request heads, their time
        # and open connections.
        loop="uvloop",
        http=guarded_protocol(settings),
    )


def serve(app_factory: str, settings: ServiceSettings, service: str) -> None:
    """Serve until SIGINT/SIGTERM, then drain in-flight requests."""
    configure_logging(service, settings.log_level)
    allow_open_files(settings.max_connections)
    uvicorn.Server(server_config(app_factory, settings, service)).run()


# What a process opens besides its clients' connections: connections to upstreams, databases
# and Redis (the gateway's pools alone may hold 200), its listening socket, its logs.
_FILES_BESIDES_CONNECTIONS = 1024


def allow_open_files(max_connections: int) -> None:
    """Raise the soft limit on open files (often 1024) towards the hard one, so that the
    connection cap refuses connections before the process runs out of descriptors (and an
    upstream connection fails for want of one). Go's runtime does the same at start-up."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + _FILES_BESIDES_CONNECTIONS
    possible = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if soft < possible:
        resource.setrlimit(resource.RLIMIT_NOFILE, (possible, hard))
    if possible < needed:
        logger.warning(
            "open_file_limit_low",
            extra={"limit": possible, "needed": needed, "max_connections": max_connections},
        )


def _shown_default(default: Any) -> str:
    if default is PydanticUndefined:
        return "required"
    if default is None or default == ():
        return "unset"
    if isinstance(default, Path):
        default = str(default)
    return f"`{default}`"


def settings_table(settings: type[BaseSettings]) -> str:
    """The environment variables a service reads, as a Markdown table (`<service> settings`;
    the README's configuration tables are this output)."""
    prefix = settings.model_config.get("env_prefix", "")

    def variable(name: str, field: FieldInfo) -> str:
        # A standard variable (OpenTelemetry's) is read by its own name, without the prefix.
        alias = field.validation_alias
        return alias if isinstance(alias, str) else f"{prefix}{name.upper()}"

    rows = [
        f"| `{variable(name, field)}` | {_shown_default(field.default)} | {field.description} |"
        for name, field in sorted(settings.model_fields.items())
    ]
    return "\n".join(["| variable | default | meaning |", "|---|---|---|", *rows]) + "\n"
