"""Client request bodies on their way upstream: limited in size, and in how long they pause."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The client's body went past the limit while it was being forwarded."""


class BodyTooSlow(Exception):
    """The client stopped sending its body midway (it would hold a pooled connection)."""


def has_body(request: Request) -> bool:
    return "content-length" in request.headers or "transfer-encoding" in request.headers


def declared_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


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
