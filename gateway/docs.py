"""`/openapi.json` and `/docs`: the upstreams' OpenAPI documents merged into one.

Each upstream's document is fetched with its pooled client, cut down to the paths the gateway
routes to it and merged with the gateway's own. The merged document is cached; when the cache
expires the upstreams are asked again (conditionally when they send ETags) and it is rebuilt
only if something changed. An upstream that is down keeps its last good part; one never seen
is left out and named in `x-unavailable-upstreams`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from gateway.config import GatewaySettings
from gateway.openapi_merge import JSONObject, merge_documents, owned_paths
from gateway.own_answers import with_gateway_answers
from gateway.routes import ProxyRoute
from gateway.upstreams import Upstream
from shared.docs_page import install_docs_page
from shared.openapi import service_document
from shared.openapi_responses import add_headers
from shared.request_context import REQUEST_ID_HEADER, current_request_id

logger = logging.getLogger(__name__)

OPENAPI_PATH = "/openapi.json"
# Documentation must not make the docs page wait like a slow order would.
FETCH_TIMEOUT_SECONDS = 3.0


def _parsed(body: bytes) -> JSONObject:
    """The OpenAPI document in `body`; ValueError when it is not one this module can merge."""
    document = json.loads(body)
    if not (
        isinstance(document, dict)
        and isinstance(document.get("paths"), dict)
        and all(isinstance(item, dict) for item in document["paths"].values())
        and isinstance(document.get("components", {}), dict)
        and all(isinstance(entries, dict) for entries in document.get("components", {}).values())
    ):
        raise ValueError("not an OpenAPI document")
    return document


@dataclass
class UpstreamDocument:
    """An upstream's last good document, and what it takes to ask whether it changed."""

    document: JSONObject | None = None
    body: bytes = b""
    etag: str | None = None
    # The last fetch failed: `document` (if any) is what the upstream said before.
    is_stale: bool = False


@dataclass(frozen=True)
class MergedDocument:
    body: bytes
    etag: str

    @classmethod
    def of(cls, document: JSONObject) -> MergedDocument:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


class ApiDocuments:
    """The merged document, cached for `openapi_cache_seconds`; one refresh at a time, shared
    by every request that arrives while it runs."""

    def __init__(
        self,
        app: FastAPI,
        upstreams: Mapping[str, Upstream],
        settings: GatewaySettings,
        routes: Sequence[ProxyRoute],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.upstreams = upstreams
        self.cache_seconds = settings.openapi_cache_seconds
        self.routes = routes
        self.clock = clock
        self.upstream_documents: dict[str, UpstreamDocument] = {}
        self._own_document: JSONObject | None = None
        self._merged: MergedDocument | None = None
        self._expires_at = 0.0
        self._refreshing: asyncio.Task[MergedDocument] | None = None

    async def current(self) -> MergedDocument:
        if self._merged is not None and self.clock() < self._expires_at:
            return self._merged
        if self._refreshing is None:
            self._refreshing = asyncio.create_task(self._refresh())
        # Shielded: a client that gives up does not cancel the refresh that others wait for.
        return await asyncio.shield(self._refreshing)

    async def __aenter__(self) -> ApiDocuments:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop a refresh still running (the upstream clients are about to close)."""
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refreshing

    async def _refresh(self) -> MergedDocument:
        try:
            upstreams = self.upstreams
            routed = {route.upstream for route in self.routes}
            names = [name for name in upstreams if name in routed]
            for name in names:
                self.upstream_documents.setdefault(name, UpstreamDocument())
            changes = await asyncio.gather(
                *(self._fetch(name, upstreams[name].client) for name in names)
            )
            if self._merged is None or any(changes):
                self._merged = MergedDocument.of(self._build())
            self._expires_at = self.clock() + self.cache_seconds
            return self._merged
        finally:
            self._refreshing = None

    async def _fetch(self, name: str, client: httpx.AsyncClient) -> bool:
        """Fetch one upstream's document; whether its part of the merged one changed (a new
        document, or the upstream went down or came back)."""
        source = self.upstream_documents[name]
        was_stale = source.is_stale
        headers = {"Accept": "application/json"}
        if request_id := current_request_id():
            headers[REQUEST_ID_HEADER] = request_id
        if source.document is not None and source.etag is not None:
            headers["If-None-Match"] = source.etag
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
                response = await client.get(
                    OPENAPI_PATH, headers=headers, timeout=FETCH_TIMEOUT_SECONDS
                )
            is_new = self._take(source, response)
        except (httpx.HTTPError, TimeoutError, ValueError) as error:
            logger.warning("openapi_fetch_failed", extra={"upstream": name, "error": repr(error)})
            source.is_stale = True
            return not was_stale
        source.is_stale = False
        if is_new:
            logger.info("openapi_document_changed", extra={"upstream": name})
        return is_new or was_stale

    @staticmethod
    def _take(source: UpstreamDocument, response: httpx.Response) -> bool:
        """Keep the document in `response`; whether it is a new one. ValueError if none."""
        if response.status_code == 304 and source.document is not None:
            source.etag = response.headers.get("etag", source.etag)
            return False
        if response.status_code != 200:
            raise ValueError(f"{OPENAPI_PATH} answered {response.status_code}")
        source.etag = response.headers.get("etag")
        if source.document is not None and response.content == source.body:
            return False
        source.document, source.body = _parsed(response.content), response.content
        return True

    def _build(self) -> JSONObject:
        app = self.app
        if self._own_document is None:
            # Made on first use, when every route of the gateway is in place.
            self._own_document = service_document(app)
        parts = {"gateway": self._own_document}
        for name, source in self.upstream_documents.items():
            if source.document is not None:
                owned = owned_paths(source.document, name, self.routes)
                parts[name] = with_gateway_answers(owned, self.routes)
        unavailable = [name for name, s in self.upstream_documents.items() if s.document is None]
        stale = [name for name, s in self.upstream_documents.items() if s.document and s.is_stale]
        description = app.description
        if unavailable:
            description += (
                f"\n\n**Incomplete:** the operations of {', '.join(unavailable)} are missing: "
                "the gateway has not been able to fetch their description yet."
            )
        document: JSONObject = {
            "openapi": "3.1.0",
            "info": {"title": app.title, "description": description, "version": app.version},
            # Every operation is called through the gateway, wherever the document is read.
            "servers": [{"url": "/"}],
            **merge_documents(parts),
        }
        # On every answer the gateway gives, its own and the services'.
        for item in document["paths"].values():
            for operation in item.values():
                for response in operation["responses"].values():
                    add_headers(response, ["X-Request-ID", "Server-Timing"])
        if unavailable:
            document["x-unavailable-upstreams"] = unavailable
        if stale:
            document["x-stale-upstreams"] = stale
        return document


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names `etag` (the weak comparison of RFC 9110 §13.1.2)."""
    if if_none_match is None:
        return False
    candidates = {candidate.strip().removeprefix("W/") for candidate in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def install_api_docs(app: FastAPI) -> None:
    """Serve the merged document (the lifespan state's `api_documents`) and Swagger UI on
    the gateway: public, and not listed in the document themselves."""

    async def openapi_json(request: Request) -> Response:
        documents: ApiDocuments = request.scope["state"]["api_documents"]
        merged = await documents.current()
        # Clients may keep it, but ask again each time: the answer is then a cheap 304.
        headers = {"ETag": merged.etag, "Cache-Control": "no-cache"}
        if _matches(request.headers.get("if-none-match"), merged.etag):
            return Response(status_code=304, headers=headers)
        return Response(merged.body, media_type="application/json", headers=headers)

    app.add_api_route(OPENAPI_PATH, openapi_json, methods=["GET"], include_in_schema=False)
    install_docs_page(app, OPENAPI_PATH)
