"""The gateway's front door: proxied paths go to the pipeline, everything else (health,
metrics, docs, unknown paths) to the framework's app.

Proxied requests are the gateway's hot path: they skip the framework's own layers (its
error, telemetry and body-limit middleware, its router and exception handlers: the pipeline
answers its own problems). Both ways pass through the same middleware, which wraps this door.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.pipeline import Pipeline
from gateway.routes import ProxyRoute


@dataclass(frozen=True)
class RouteTemplate:
    """Stands for the matched route in the scope: metrics and the access log read its path."""

    path: str


@dataclass(frozen=True)
class _Match:
    route: ProxyRoute
    exact: RouteTemplate
    below: RouteTemplate


class ProxyRouting:
    """Which route table entry, if any, a path belongs to: its prefix, or below it."""

    def __init__(self, routes: Sequence[ProxyRoute]) -> None:
        self._matches = [
            _Match(route, RouteTemplate(route.prefix), RouteTemplate(route.prefix + "/{path:path}"))
            for route in routes
        ]

    def match(self, path: str) -> tuple[ProxyRoute, RouteTemplate] | None:
        for match in self._matches:
            prefix = match.route.prefix
            if path == prefix:
                return match.route, match.exact
            if path.startswith(prefix) and path[len(prefix)] == "/":
                return match.route, match.below
        return None


class FrontDoor:
    def __init__(self, framework: ASGIApp, routes: Sequence[ProxyRoute]) -> None:
        self.framework = framework
        self.routing = ProxyRouting(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (matched := self.routing.match(scope["path"])):
            route, scope["route"] = matched
            # Opened by the lifespan, as every resource of the gateway's (`app.GatewayState`).
            pipeline: Pipeline = scope["state"]["pipeline"]
            await pipeline.handle(scope, receive, send, route)
            return
        await self.framework(scope, receive, send)
