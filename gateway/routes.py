"""The route table: which paths go to which upstream, which need a verified identity, and how
long each may take."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProxyRoute:
    prefix: str
    upstream: str
    is_public: bool
    # None: the gateway's `upstream_timeout_seconds`.
    timeout_seconds: float | None = None


ROUTES = (
    # Sign-ins queue for the password hasher during bursts: they may take longer.
    ProxyRoute("/auth", upstream="auth", is_public=True, timeout_seconds=15.0),
    ProxyRoute("/.well-known", upstream="auth", is_public=True, timeout_seconds=5.0),
    ProxyRoute("/orders", upstream="orders", is_public=False),
    ProxyRoute("/products", upstream="orders", is_public=False),
    ProxyRoute("/events", upstream="orders", is_public=False),
    ProxyRoute("/webhooks", upstream="orders", is_public=False),
)

PROXIED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# RFC 9110 §9.2.2: sending these twice has the effect of sending them once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
