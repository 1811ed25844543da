"""`Server-Timing` on every gateway response: `auth`, `upstream` and `total`, in milliseconds.

The pipeline records in the request's `Timings` how long the token check and the upstream
took; this middleware writes the header once, from those numbers, when the response starts.
A response that had neither step (health, docs, no route, a refusal before the upstream, a
CORS preflight) reports 0.0 for them, so that clients always find what the contract promises.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Where a request's `Timings` travel in its scope, from this middleware to the pipeline.
TIMINGS = "gateway.timings"


@dataclass(slots=True)
class Timings:
    auth_seconds: float = 0.0
    upstream_seconds: float = 0.0


def _server_timing(timings: Timings, total_seconds: float) -> bytes:
    return (
        f"auth;dur={timings.auth_seconds * 1000:.1f}, "
        f"upstream;dur={timings.upstream_seconds * 1000:.1f}, "
        f"total;dur={total_seconds * 1000:.1f}"
    ).encode()


class ServerTimingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        timings = scope[TIMINGS] = Timings()

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = _server_timing(timings, time.perf_counter() - started_at)
                message["headers"] = [*message.get("headers", ()), (b"server-timing", header)]
            await send(message)

        await self.app(scope, receive, send_with_timing)
