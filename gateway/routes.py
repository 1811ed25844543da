"""The route table: which paths go to which upstream, and which need a verified identity."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProxyRoute:
    prefix: str
    upstream: str
    is_public: bool


ROUTES = (
    ProxyRoute("/auth", upstream="auth", is_public=True),
    ProxyRoute("/.well-known", upstream="auth", is_public=True),
    ProxyRoute("/orders", upstream="orders", is_public=False),
    ProxyRoute("/products", upstream="orders", is_public=False),
)

PROXIED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
