"""What every service's command line shares: serving under uvicorn with our logging."""

from __future__ import annotations

import uvicorn

from shared.logging import configure_logging, logging_config
from shared.settings import ServiceSettings


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
    )


def serve(app_factory: str, settings: ServiceSettings, service: str) -> None:
    """Serve until SIGINT/SIGTERM, then drain in-flight requests."""
    configure_logging(service, settings.log_level)
    uvicorn.Server(server_config(app_factory, settings, service)).run()
