"""The upstream's answer on its way to the client: its body relayed as it arrives, stopping
when the client goes away."""

from __future__ import annotations

import asyncio
import logging

import httpx
from starlette.types import Receive, Send

from gateway.headers import RawHeaders

logger = logging.getLogger(__name__)


def declared_length(headers: RawHeaders) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _disconnected(receive: Receive) -> None:
    """Returns once the client has gone away (its body was read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def relay_body(
    answer: httpx.Response, remaining: int | None, receive: Receive, send: Send, upstream: str
) -> None:
    """The upstream body as it arrives, undecoded; a failure midway cuts the response.

    A body that ends with its first chunk (most do) goes out as one message. Past that, a
    watcher notices a client that went away, so that a long download stops with it."""
    watcher: asyncio.Future[None] | None = None
    # The transport's stream as it is: `aiter_raw()` would only add bookkeeping.
    body = answer.stream
    assert isinstance(body, httpx.AsyncByteStream)
    try:
        async for chunk in body:
            if remaining is not None:
                remaining -= len(chunk)
                if remaining <= 0:
                    await send({"type": "http.response.body", "body": chunk})
                    return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if watcher is None:
                watcher = asyncio.ensure_future(_disconnected(receive))
            elif watcher.done():
                return
        await send({"type": "http.response.body", "body": b""})
    except httpx.TransportError as error:
        logger.warning("upstream_response_cut", extra={"upstream": upstream, "error": repr(error)})
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
