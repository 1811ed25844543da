"""Which headers cross the gateway, in each direction, and which the gateway asserts itself."""

from __future__ import annotations

from collections.abc import Iterable

from shared.tokens import Identity
from shared.trace_ids import RenderedTrace

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set by the gateway alone: a client sending them must not be believed upstream.
ASSERTED_BY_GATEWAY = frozenset(
    {
        b"x-user-id",
        b"x-user-role",
        b"x-request-id",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
        # httpx sets Host for the upstream; the client's travels as X-Forwarded-Host.
        b"host",
    }
)

# W3C Trace Context: a tracing gateway's span supersedes the client's as the upstream's parent.
_TRACE_CONTEXT = frozenset({b"traceparent", b"tracestate"})

RawHeaders = list[tuple[bytes, bytes]]


# What never crosses, whichever way; plus what the message's own `Connection` names.
_NEVER_UPSTREAM = HOP_BY_HOP | ASSERTED_BY_GATEWAY
# The gateway's own server adds Date, the request-context middleware X-Request-ID and
# X-Content-Type-Options (one of each, whatever the upstream sent), and the proxy its
# Server-Timing (an upstream's would replace it, and tell of its internals); the trace a
# client is told of is the gateway's (`traceresponse`, while tracing is on), never a span
# inside the platform.
_NEVER_TO_CLIENT = HOP_BY_HOP | {
    b"x-request-id",
    b"x-content-type-options",
    b"date",
    b"server-timing",
    b"traceresponse",
}


def _connection_named(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    """Headers that `Connection` marks as hop-by-hop for this message (RFC 9110 §7.6.1)."""
    return (
        set()
        if not any(name.lower() == b"connection" for name, _ in headers)
        else {
            token.strip().lower()
            for name, value in headers
            if name.lower() == b"connection"
            for token in value.split(b",")
        }
    )


def _without(headers: RawHeaders, dropped: frozenset[bytes] | set[bytes]) -> RawHeaders:
    return [(name, value) for name, value in headers if name.lower() not in dropped]


def upstream_request_headers(
    client_headers: RawHeaders,
    *,
    identity: Identity | None,
    request_id: str,
    client_address: str | None,
    scheme: str,
    trace: RenderedTrace | None = None,
) -> RawHeaders:
    """The client's headers minus hop-by-hop and asserted ones, plus what the gateway vouches
    for: the request id, the forwarding chain and the verified identity; and, while the
    gateway traces, its request's `trace` instead of the client's own trace context."""
    dropped = _NEVER_UPSTREAM | _connection_named(client_headers)
    if trace is not None:
        dropped |= _TRACE_CONTEXT
    host = next((value for name, value in client_headers if name.lower() == b"host"), None)
    headers = _without(client_headers, dropped)
    headers.append((b"x-request-id", request_id.encode()))
    if client_address:
        headers.append((b"x-forwarded-for", client_address.encode()))
    headers.append((b"x-forwarded-proto", scheme.encode()))
    if host is not None:
        headers.append((b"x-forwarded-host", host))
    if identity is not None:
        headers.append((b"x-user-id", str(identity.user_id).encode()))
        headers.append((b"x-user-role", identity.role.encode()))
    if trace is not None:
        headers.append((b"traceparent", trace.traceparent))
        if trace.tracestate is not None:
            headers.append((b"tracestate", trace.tracestate))
    return headers


def client_response_headers(upstream_headers: RawHeaders) -> RawHeaders:
    """The upstream's headers minus hop-by-hop ones; repeated headers stay repeated."""
    return _without(upstream_headers, _NEVER_TO_CLIENT | _connection_named(upstream_headers))
