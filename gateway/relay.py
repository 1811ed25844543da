"""The upstream's answer on its way to the client: its body relayed as it arrives, stopping
when the client goes away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
from starlette.types import Receive, Send

from gateway.headers import RawHeaders

logger = logging.getLogger(__name__)


def declared_length(headers: RawHeaders) -> int | None:
    """The body's length by the upstream's `Content-Length`, if it sent a valid one."""
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _disconnected(receive: Receive) -> None:
    """Returns once the client has gone away (its body was read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def relay_body(  # noqa: C901 - each chunk decides: the body's end, the client's leaving
    answer: httpx.Response,
    send: Send,
    *,
    upstream: str,
    receive: Receive,
    is_request_read: Callable[[], bool],
) -> None:
    """The upstream body as it arrives, undecoded; a failure midway cuts the response.

    A body that ends with its first chunk (most do) goes out as one message. Past that, a
    watcher notices a client that went away, so that a long download stops with it; it
    listens only once the client's own body has been read (an upstream may answer early),
    so that it never takes a message of that body."""
    remaining = declared_length(answer.headers.raw)
    is_complete = False
    watcher: asyncio.Task[None] | None = None
    # The transport's stream as it is: `aiter_raw()` would only add bookkeeping.
    body = answer.stream
    assert isinstance(body, httpx.AsyncByteStream)
    try:
        # Read to the stream's end even once the declared length is in: a transport may keep
        # a connection for the next request only when it has seen its response end.
        async for chunk in body:
            if remaining is not None:
                remaining -= len(chunk)
                if remaining <= 0:
                    await send({"type": "http.response.body", "body": chunk})
                    is_complete = True
                    continue
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if watcher is None:
                if is_request_read():
                    watcher = asyncio.create_task(_disconnected(receive))
            elif watcher.done():
                return
        if not is_complete:
            await send({"type": "http.response.body", "body": b""})
    except httpx.TransportError as error:
        logger.warning("upstream_response_cut", extra={"upstream": upstream, "error": repr(error)})
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
            if watcher.done() and not watcher.cancelled():
                watcher.exception()  # retrieved: a client gone is no error of the gateway's
