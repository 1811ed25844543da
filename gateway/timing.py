"""`Server-Timing: total;dur=…` on every gateway response, after the proxy's own entries."""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTimingMiddleware:
    """Adds the time the gateway took until the response started, in milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                total = f"total;dur={(time.perf_counter() - started_at) * 1000:.1f}"
                headers = MutableHeaders(scope=message)
                earlier = headers.get("server-timing")
                headers["server-timing"] = f"{earlier}, {total}" if earlier else total
            await send(message)

        await self.app(scope, receive, send_with_timing)
