"""`HEAD` wherever `GET` is served (RFC 9110 §9.3.2): the same status and headers, no body.

FastAPI routes answer only the methods they declare, so `HEAD /products` would be a 405.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                # Content-Length stays what GET would send; only the bytes are left out.
                message = {**message, "body": b""}
            await send(message)

        # A copy: the request context outside still sees (and logs) the HEAD it was sent.
        await self.app({**scope, "method": "GET"}, receive, send_without_body)
