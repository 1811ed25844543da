"""Client request bodies on their way upstream: limited in size, and in how long they pause."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect
from starlette.types import Receive


class BodyTooLarge(Exception):
    """The client's body went past the limit while it was being forwarded."""


class BodyTooSlow(Exception):
    """The client stopped sending its body midway (it would hold a pooled connection)."""


class ClientBody:
    """The client's body as its chunks arrive; `ClientDisconnect` if the client goes away."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        # Until then, the body's messages are its reader's alone.
        self.is_read = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            if chunk := message.get("body", b""):
                yield chunk
            if not message.get("more_body", False):
                self.is_read = True
                return


async def limited(
    body: AsyncIterator[bytes], limit: int, idle_timeout: float
) -> AsyncIterator[bytes]:
    """The body as it arrives, cut off with `BodyTooLarge` past `limit` bytes (for bodies
    whose length was not declared: chunked ones), or `BodyTooSlow` when the client pauses
    longer than `idle_timeout` between two chunks."""
    size = 0
    chunks = aiter(body)
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyTooSlow from None
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        yield chunk
