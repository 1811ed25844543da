"""Which requests the proxy answers: those under a route's prefix, picked out before the
framework's router (the proxy needs none of its request parsing or dependency solving)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.proxy import Proxy
from gateway.routes import PROXIED_METHODS, ProxyRoute
from shared.problems import Problem, render_problem


@dataclass(frozen=True)
class RouteTemplate:
    """Stands for the matched route in the scope: metrics and the access log read its path."""

    path: str


@dataclass(frozen=True)
class _Match:
    route: ProxyRoute
    exact: RouteTemplate
    below: RouteTemplate


class ProxyDispatchMiddleware:
    """Hands requests on the proxied routes to the app's `Proxy`; the rest go on to the app."""

    def __init__(self, app: ASGIApp, routes: Sequence[ProxyRoute]) -> None:
        self.app = app
        self._matches = [
            _Match(route, RouteTemplate(route.prefix), RouteTemplate(route.prefix + "/{path:path}"))
            for route in routes
        ]
        self._methods = frozenset(PROXIED_METHODS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for match in self._matches:
                prefix = match.route.prefix
                if path == prefix:
                    scope["route"] = match.exact
                elif path.startswith(prefix) and path[len(prefix)] == "/":
                    scope["route"] = match.below
                else:
                    continue
                if scope["method"] not in self._methods:
                    refusal = Problem(405, headers={"Allow": ", ".join(PROXIED_METHODS)})
                    await render_problem(refusal)(scope, receive, send)
                    return
                proxy: Proxy = scope["app"].state.proxy
                await proxy.handle(scope, receive, send, match.route)
                return
        await self.app(scope, receive, send)
