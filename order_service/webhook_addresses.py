"""Where a webhook may go: an http(s) URL without credentials, on a public address only,
unless `ORDERS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES` lets it reach the rest (tests, development).

A host is checked against every address it resolves to when the endpoint is registered, and
again at every delivery, which then connects only to an address it checked (`relay/sender.py`):
a name that resolved to a public address at registration cannot be pointed at the internal
network later (DNS rebinding), nor can a redirect (deliveries follow none).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Self

import httpx

from order_service.config import OrdersSettings
from order_service.errors import DisallowedWebhookUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Every address of a host (an IP literal is its own), or OSError when it has none.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

# IPv6 prefixes that carry an IPv4 address in their last 32 bits, reaching it through a
# translator (RFC 6052's well-known NAT64 prefix).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_KINDS = (
    ("unspecified", "is_unspecified"),
    ("loopback", "is_loopback"),
    ("link-local", "is_link_local"),
    ("multicast", "is_multicast"),
    ("private", "is_private"),
    ("reserved", "is_reserved"),
)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, without blocking the event loop (the system's
    resolver runs in the loop's thread pool)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for *_, socket_address in infos:
        # An IPv6 address may come with its zone (`fe80::1%eth0`): the address is what counts.
        address = ipaddress.ip_address(str(socket_address[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to (mapped, 6to4 or NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def why_not_public(address: IPAddress) -> str | None:
    """Why `address` is not a public one (`"loopback"`, `"private"`, …), or None if it is."""
    for candidate in (address, _embedded_ipv4(address)):
        if candidate is None:
            continue
        for kind, attribute in _KINDS:
            if getattr(candidate, attribute):
                return kind
        if not candidate.is_global:
            return "non-public"
    return None


@dataclass(frozen=True)
class WebhookTarget:
    """A checked webhook URL: where to connect, and what to call the host there."""

    url: httpx.URL
    host: str
    port: int


def parse_webhook_url(url: str) -> WebhookTarget:
    """The URL as a target; raises `DisallowedWebhookUrl` unless it is http(s), names a host
    and carries no credentials."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise DisallowedWebhookUrl(f"not a URL: {error}") from None
    if parsed.scheme not in ("http", "https"):
        raise DisallowedWebhookUrl("only http and https URLs can receive webhooks")
    if not parsed.host:
        raise DisallowedWebhookUrl("the URL names no host")
    if parsed.userinfo:
        raise DisallowedWebhookUrl("the URL must not carry credentials: sign-in is the secret")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise DisallowedWebhookUrl("the port is not one")
    # The ASCII form (punycode for an internationalised name), as DNS and TLS know it.
    return WebhookTarget(parsed, parsed.raw_host.decode("ascii"), port)


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses webhooks may reach, and how hosts are resolved (giving up after
    `resolve_timeout_seconds`: the system's resolver may wait much longer)."""

    allow_private: bool
    resolve_timeout_seconds: float
    resolver: Resolver = field(default=resolve)

    @classmethod
    def from_settings(cls, settings: OrdersSettings, resolver: Resolver = resolve) -> Self:
        return cls(
            allow_private=settings.webhook_allow_private_addresses,
            resolve_timeout_seconds=settings.webhook_timeout_seconds,
            resolver=resolver,
        )

    async def addresses(self, host: str, port: int) -> Sequence[IPAddress]:
        """Every address of `host` (an IP literal is its own); raises `DisallowedWebhookUrl`
        when it has none, or when one of them is not public and the policy wants them all
        public."""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                async with asyncio.timeout(self.resolve_timeout_seconds):
                    addresses = await self.resolver(host, port)
            except TimeoutError:
                raise DisallowedWebhookUrl(f"{host} did not resolve in time") from None
            except OSError as error:
                raise DisallowedWebhookUrl(f"{host} does not resolve: {error}") from None
        if not addresses:
            raise DisallowedWebhookUrl(f"{host} does not resolve")
        if not self.allow_private:
            for address in addresses:
                kind = why_not_public(address)
                if kind is not None:
                    raise DisallowedWebhookUrl(
                        f"{host} is {address}, a {kind} address: webhooks go to public"
                        " addresses only"
                    )
        return addresses

    async def check(self, url: str) -> None:
        """Raise `DisallowedWebhookUrl` unless webhooks may go to `url`."""
        target = parse_webhook_url(url)
        await self.addresses(target.host, target.port)
