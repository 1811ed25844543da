"""Sending one webhook: a POST of the event, signed, to an address that was checked.

Built on httpcore (httpx's own transport) with a network backend of ours: every connection
resolves the host, checks each of its addresses (`webhook_addresses`), and connects to those
only. TLS still verifies the certificate against the host's name (and sends it as SNI), and
pooled connections stay keyed by that name: the address connected to is the one checked,
whatever the name resolves to a moment later (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpcore
import httpx

from order_service.errors import DisallowedWebhookUrl
from order_service.webhook_addresses import AddressPolicy, parse_webhook_url

USER_AGENT = "order-platform-webhooks/1"
# Enough of an answer to let the connection be reused; the rest is not ours to hold.
_MAX_BODY_READ = 64 * 1024


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: an answer's status, or what went wrong before one came."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def is_success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str:
        return f"answered {self.status_code}" if self.error is None else self.error


class _CheckedNetwork(httpcore.AsyncNetworkBackend):
    """Connects to a host's checked addresses only, in the order they resolved."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._network = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._policy.addresses(host, port)
        except DisallowedWebhookUrl as refusal:
            raise httpcore.ConnectError(f"refused: {refusal}") from None
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                return await self._network.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class WebhookSender:
    """POSTs signed events; one pool of connections for all endpoints."""

    def __init__(
        self, policy: AddressPolicy, *, timeout_seconds: float, max_connections: int
    ) -> None:
        self._timeout_seconds = timeout_seconds
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            keepalive_expiry=30,
            network_backend=_CheckedNetwork(policy),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._pool.aclose()

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Outcome:
        """POST `body` to `url`; never raises for what the endpoint or the network does."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_seconds):
                status_code = await self._post(url, headers, body)
        except TimeoutError:
            return self._failed(started, f"no answer within {self._timeout_seconds:g} s")
        except DisallowedWebhookUrl as refusal:
            return self._failed(started, f"refused: {refusal}")
        except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
            return self._failed(started, str(error) or "could not connect")
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.TimeoutException) as error:
            return self._failed(started, f"{type(error).__name__}: {error}")
        return Outcome(status_code, None, _milliseconds_since(started))

    async def _post(self, url: str, headers: Mapping[str, str], body: bytes) -> int:
        target = parse_webhook_url(url)
        request_url = httpcore.URL(
            scheme=target.url.raw_scheme,
            host=target.url.raw_host,
            port=target.url.port,
            target=target.url.raw_path,
        )
        request_headers = [
            *headers.items(),
            ("content-type", "application/json"),
            ("user-agent", USER_AGENT),
        ]
        timeout = self._timeout_seconds
        extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout}}
        async with self._pool.stream(
            "POST", request_url, headers=request_headers, content=body, extensions=extensions
        ) as response:
            read = 0
            async for chunk in response.aiter_stream():
                read += len(chunk)
                if read > _MAX_BODY_READ:
                    break
            return response.status

    @staticmethod
    def _failed(started: float, error: str) -> Outcome:
        return Outcome(None, error, _milliseconds_since(started))


def _milliseconds_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
