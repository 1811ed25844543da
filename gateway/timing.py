"""`Server-Timing` on every gateway response: `auth`, `upstream` and `total`, in milliseconds.

The proxy measures `auth` and `upstream`; a response that had neither step (health, metrics,
no route, a request refused before it went upstream) says `dur=0.0` for them, so that clients
always find what the contract promises.
"""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_STEPS = ("auth", "upstream")


def _completed(measured: str | None, total_ms: float) -> str:
    total = f"total;dur={total_ms:.1f}"
    if measured is not None and measured.startswith("auth;") and ", upstream;" in measured:
        return f"{measured}, {total}"  # the proxy's, complete but for the total
    entries = [entry.strip() for entry in (measured or "").split(",") if entry.strip()]
    named = {entry.split(";", 1)[0] for entry in entries}
    missing = [f"{step};dur=0.0" for step in _STEPS if step not in named]
    return ", ".join([*entries, *missing, total])


class ServerTimingMiddleware:
    """Completes the proxy's `Server-Timing` and adds the time until the response started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                total_ms = (time.perf_counter() - started_at) * 1000
                headers["server-timing"] = _completed(headers.get("server-timing"), total_ms)
            await send(message)

        await self.app(scope, receive, send_with_timing)
