"""An httpx transport that sends with aiohttp: httpx stays the interface, aiohttp does the work.

httpx's own transport (httpcore) costs the gateway several times the CPU per proxied request
that aiohttp's client does (bench/HISTORY.md). Behind the `httpx.AsyncBaseTransport` interface,
the proxy, the docs fetcher and the tests keep speaking httpx, and any httpx transport can be
swapped in.

Errors become the httpx exceptions that say what happened, because the proxy's retry depends
on it: `ConnectError`/`ConnectTimeout` only when nothing was sent, `PoolTimeout` only for the
gateway's own full pool.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import httpx
from yarl import URL

# aiohttp would add these of its own accord; a proxy sends only what its client sent.
_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
# Transfer framing is the sender's business: aiohttp chunks a body of unknown length itself.
_FRAMING = frozenset({b"transfer-encoding"})


def _translated(error: Exception) -> httpx.TransportError:
    """The httpx exception for an aiohttp one, most specific first."""
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(error))
    if isinstance(error, aiohttp.ClientConnectorError):  # refused, unresolvable: nothing sent
        return httpx.ConnectError(str(error))
    if isinstance(error, aiohttp.SocketTimeoutError | asyncio.TimeoutError):
        return httpx.ReadTimeout(str(error) or "timed out waiting for the upstream")
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        # Closed before a whole response, or a malformed one.
        return httpx.RemoteProtocolError(str(error) or type(error).__name__)
    return httpx.ReadError(str(error) or type(error).__name__)  # reset, cut body: maybe sent


@functools.lru_cache(maxsize=64)
def _client_timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    # A handful of distinct timeouts (one per route), each built once.
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


class _Body:
    """The request body on its way to aiohttp, keeping the exception that ended it early (the
    client's body too large, too slow, cut): that, not aiohttp's wrapping of it, is raised."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self.stream = stream
        self.error: BaseException | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.stream:
                yield chunk
        except BaseException as error:
            self.error = error
            raise


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, release: Callable[[], None]) -> None:
        self._response = response
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await self._response.content.readany():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as error:
            raise _translated(error) from error

    async def aclose(self) -> None:
        # A body read to its end leaves the connection in the pool; otherwise it is closed.
        self._response.release()
        self._release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """A pool of keep-alive connections, at most `max_connections` in use at once."""

    def __init__(self, *, max_connections: int, keepalive_expiry: float) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._in_use = asyncio.Semaphore(max_connections)
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        # Created on first use: aiohttp wants a running event loop.
        connector = aiohttp.TCPConnector(
            limit=0,  # the semaphore limits, so that a full pool is told from a slow connect
            keepalive_timeout=self._keepalive_expiry,
            use_dns_cache=True,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # the clients' cookies are theirs
            skip_auto_headers=_AUTO_HEADERS,
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        # aiohttp resends an idempotent request once when its connection fails; the proxy has
        # its own retry policy, counted in its metrics, and two would multiply. (No public
        # switch exists; tests/gateway/test_failures.py notices if this one stops working.)
        session._retry_connection = False
        return session

    async def _acquire(self, pool_timeout: float | None) -> None:
        if not self._in_use.locked():
            await self._in_use.acquire()
            return
        try:
            async with asyncio.timeout(pool_timeout):
                await self._in_use.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection to the upstream in time") from None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        await self._acquire(timeouts.get("pool"))
        try:
            response = await self._send(request, timeouts)
        except BaseException:
            self._in_use.release()
            raise
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response, self._in_use.release),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def _send(
        self, request: httpx.Request, timeouts: dict[str, Any]
    ) -> aiohttp.ClientResponse:
        if self._session is None:
            self._session = self._open_session()
        body = None
        if isinstance(request.stream, httpx.ByteStream):
            data: Any = request.content or None
        elif isinstance(request.stream, httpx.AsyncByteStream):
            data = body = _Body(request.stream)
        else:
            raise TypeError("an async transport cannot send a synchronous body")
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _FRAMING
        ]
        try:
            response = await self._session.request(
                request.method,
                URL(str(request.url), encoded=True),  # the path exactly as the client sent it
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=_client_timeout(timeouts.get("connect"), timeouts.get("read")),
            )
        except (TimeoutError, aiohttp.ClientError) as error:
            if body is not None and body.error is not None:
                raise body.error from None
            raise _translated(error) from error
        return response

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
