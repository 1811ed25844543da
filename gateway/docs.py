"""`/openapi.json` and `/docs`: the upstreams' OpenAPI documents merged into one.

PLACEHOLDER (to be implemented).
"""

from __future__ import annotations

from fastapi import FastAPI

from gateway.config import GatewaySettings


def install_api_docs(app: FastAPI, settings: GatewaySettings) -> None:
    """Serve the merged document and Swagger UI on the gateway."""
