"""What every service's command line shares: serving under uvicorn with our logging."""

from __future__ import annotations

import uvicorn

from shared.logging import configure_logging, logging_config
from shared.settings import ServiceSettings


def serve(app_factory: str, settings: ServiceSettings, service: str) -> None:
    """Serve `module:create_app` until SIGINT/SIGTERM, then drain in-flight requests."""
    configure_logging(service, settings.log_level)
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=logging_config(service, settings.log_level),
        access_log=False,  # RequestContextMiddleware writes the access log
        server_header=False,
        timeout_graceful_shutdown=20,
    )
