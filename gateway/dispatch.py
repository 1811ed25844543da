"""Which requests the proxy answers, and the short way they take to it.

Requests under a route's prefix are the gateway's hot path. They skip the framework's own
layers (its error, telemetry and body-limit middleware, its router and exception handlers:
the proxy answers its own problems) and go through the platform's middleware straight to the
proxy. Everything else (health, metrics, docs, unknown paths) is the framework's as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.proxy import Proxy
from gateway.routes import PROXIED_METHODS, ProxyRoute
from shared.problems import Problem, render_problem

_ROUTE_KEY = "gateway.proxy_route"


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


async def _proxy_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    route: ProxyRoute = scope[_ROUTE_KEY]
    if scope["method"] not in PROXIED_METHODS:
        refusal = Problem(405, headers={"Allow": ", ".join(PROXIED_METHODS)})
        await render_problem(refusal)(scope, receive, send)
        return
    proxy: Proxy = scope["app"].state.proxy
    await proxy.handle(scope, receive, send, route)


class GatewayApp(FastAPI):
    """The framework's app, with the proxied routes taken out in front of it."""

    _routing = ProxyRouting(())
    _proxied: ASGIApp = _proxy_endpoint

    def route_to_proxy(
        self, routes: Sequence[ProxyRoute], middleware: Sequence[Middleware]
    ) -> None:
        """Proxy `routes`, through `middleware` (outermost first) only."""
        self._routing = ProxyRouting(routes)
        proxied: ASGIApp = _proxy_endpoint
        for layer in reversed(middleware):
            proxied = layer.cls(proxied, *layer.args, **layer.kwargs)
        self._proxied = proxied

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (matched := self._routing.match(scope["path"])):
            scope[_ROUTE_KEY], scope["route"] = matched
            scope["app"] = self
            await self._proxied(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
