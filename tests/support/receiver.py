"""A webhook receiver for tests: a real HTTP endpoint (served by `running_server`) that keeps
what it receives and answers as a test tells it: the statuses to give in turn, or not at all
until it is released."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# A held request waits at most this long, so that no test can hang on one.
HOLD_SECONDS = 60


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event

    def verified_with(self, secret: str) -> dict[str, Any]:
        """The event, once the reference library has verified its signature with `secret`."""
        event: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return event


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        # Answers to give, in turn; then `204 No Content` to everything.
        self.statuses: deque[int] = deque()
        self._released = threading.Event()
        self._released.set()
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    def hold(self) -> None:
        """Keep every request from now on waiting for an answer, until `release()`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def events(self) -> list[dict[str, Any]]:
        return [received.event for received in list(self.received)]

    def types_of(self, resource_id: str) -> list[str]:
        """The types of the events received about one order or product, in arrival order."""
        return [event["type"] for event in self.events() if event["aggregate"]["id"] == resource_id]

    async def _receive(self, request: Request) -> Response:
        self.received.append(Received(dict(request.headers), await request.body()))
        if not self._released.is_set():
            await anyio.to_thread.run_sync(self._released.wait, HOLD_SECONDS)
        status = self.statuses.popleft() if self.statuses else 204
        return Response(status_code=status)
