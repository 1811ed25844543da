"""Forwarding one request to its upstream over a pooled httpx client, streaming both ways."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.headers import client_response_headers, upstream_request_headers
from gateway.routes import ProxyRoute
from shared.identity import identify
from shared.problems import Problem
from shared.request_context import current_request_id
from shared.tokens import TokenVerifier

logger = logging.getLogger(__name__)


def _has_dot_segments(path: str) -> bool:
    """Whether the (percent-decoded) path has `.` or `..` segments."""
    return any(segment in {".", ".."} for segment in path.split("/"))


def _has_body(request: Request) -> bool:
    return "content-length" in request.headers or "transfer-encoding" in request.headers


def _upstream_url(client: httpx.AsyncClient, request: Request) -> httpx.URL:
    """The upstream URL with the client's path and query exactly as they were sent."""
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    query: bytes = request.scope["query_string"]
    return client.base_url.copy_with(raw_path=raw_path + (b"?" + query if query else b""))


def _server_timing(**durations: float) -> str:
    return ", ".join(f"{name};dur={seconds * 1000:.1f}" for name, seconds in durations.items())


async def proxy(
    request: Request,
    route: ProxyRoute,
    client: httpx.AsyncClient,
    verifier: TokenVerifier,
) -> Response:
    if _has_dot_segments(request.scope["path"]):
        # Upstreams (and httpx) would resolve them: `/auth/../metrics` must not escape its route.
        raise Problem(400, "The path must not contain `.` or `..` segments.")
    started_at = time.perf_counter()
    try:
        identity = (
            None
            if route.is_public
            else await identify(verifier, request.headers.get("authorization"))
        )
    except Problem as refusal:
        refusal.headers["Server-Timing"] = _server_timing(auth=time.perf_counter() - started_at)
        raise
    authenticated_at = time.perf_counter()

    def timing() -> str:
        return _server_timing(
            auth=authenticated_at - started_at, upstream=time.perf_counter() - authenticated_at
        )

    client_address = request.client.host if request.client else None
    headers = upstream_request_headers(
        request.headers.raw,
        identity=identity,
        request_id=current_request_id() or "",
        client_address=client_address,
        scheme=request.url.scheme,
    )
    upstream_request = client.build_request(
        request.method,
        _upstream_url(client, request),
        headers=headers,
        content=request.stream() if _has_body(request) else None,
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.TimeoutException:
        logger.warning("upstream_timeout", extra={"upstream": route.upstream})
        raise Problem(
            504,
            f"The {route.upstream} service did not answer in time.",
            headers={"Server-Timing": timing()},
        ) from None
    except httpx.TransportError as exc:
        logger.warning(
            "upstream_unreachable", extra={"upstream": route.upstream, "error": repr(exc)}
        )
        raise Problem(
            502,
            f"The {route.upstream} service could not be reached.",
            headers={"Server-Timing": timing()},
        ) from None

    response = StreamingResponse(
        _relay(upstream, route),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    response.raw_headers = client_response_headers(upstream.headers.raw)
    response.raw_headers.append((b"server-timing", timing().encode()))
    return response


async def _relay(upstream: httpx.Response, route: ProxyRoute) -> AsyncIterator[bytes]:
    """The upstream body as it arrives, undecoded; a failure midway cuts the response."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.TransportError as exc:
        logger.warning(
            "upstream_response_cut", extra={"upstream": route.upstream, "error": repr(exc)}
        )
        raise
