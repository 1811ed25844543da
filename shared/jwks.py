"""An async cache of the auth service's published keys (JWKS), safe to hit on every request.

`PyJWKClient` is not used: it fetches with urllib and would block the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt

from shared.client_spans import TracedTransport
from shared.settings import TokenVerificationSettings
from shared.token_cache import VerifiedTokenCache
from shared.tokens import ALGORITHMS, TokenVerifier
from shared.tracing import Tracing

logger = logging.getLogger(__name__)

_UNLOADED_RETRY_SECONDS = 1.0
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age=(\d+)")


def _max_age(cache_control: str | None) -> int | None:
    match = _MAX_AGE.search(cache_control or "")
    return int(match.group(1)) if match else None


def parse_jwks(document: Any) -> dict[str, Any]:
    """The usable signing keys of a JWKS document, by `kid`; unusable entries are skipped."""
    keys: dict[str, Any] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHMS[0]) not in ALGORITHMS:
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=ALGORITHMS[0]).key
        except jwt.PyJWTError:
            logger.warning("jwks_key_skipped", extra={"kid": entry["kid"]})
    return keys


class JWKSCache:
    """Keys by `kid`, refreshed when stale or when a token names a key not seen yet.

    A stale key keeps serving while a background task refetches (stale-while-revalidate):
    a slow or dead auth service never holds up requests for keys already known. Only a
    token with an unknown kid waits for a refetch. Refetches are single-flight and at most
    one per `min_refresh_seconds`, so that tokens with random kids cannot hammer the auth
    service; when a fetch fails the last good keys keep serving.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        default_ttl_seconds: float,
        min_refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.url = url
        self.default_ttl_seconds = default_ttl_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.clock = clock
        self._keys: dict[str, Any] = {}
        self._expires_at = float("-inf")
        self._last_attempt_at = float("-inf")
        self._lock = asyncio.Lock()
        self._background_refresh: asyncio.Task[None] | None = None
        # Called when the set of published kids changes (a key added or dropped).
        self.key_set_listeners: list[Callable[[], None]] = []

    @property
    def is_loaded(self) -> bool:
        return bool(self._keys)

    async def key_for(self, kid: str) -> Any | None:
        key = self._keys.get(kid)
        if key is not None:
            if self.clock() >= self._expires_at:
                self._refresh_in_background()
            return key
        await self._refresh_if_allowed()
        return self._keys.get(kid)

    async def aclose(self) -> None:
        """Stop a background refresh still under way."""
        if self._background_refresh is not None:
            self._background_refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background_refresh

    def _refresh_in_background(self) -> None:
        if self._background_refresh is None or self._background_refresh.done():
            self._background_refresh = asyncio.create_task(self._refresh_if_allowed())

    async def ensure_loaded(self) -> None:
        """Readiness: raise unless some keys are loaded (trying a fetch if allowed)."""
        if not self.is_loaded:
            await self._refresh_if_allowed()
        if not self.is_loaded:
            raise RuntimeError("no verification keys loaded")

    async def _refresh_if_allowed(self) -> None:
        attempt_seen = self._last_attempt_at
        async with self._lock:
            # Someone else fetched while we waited: use their result.
            if self._last_attempt_at != attempt_seen:
                return
            if self.clock() - self._last_attempt_at < self._refresh_interval():
                return
            self._last_attempt_at = self.clock()
            await self._fetch()

    def _refresh_interval(self) -> float:
        # Until the first keys arrive (the auth service starting up), retry within a second.
        if not self._keys:
            return min(self.min_refresh_seconds, _UNLOADED_RETRY_SECONDS)
        return self.min_refresh_seconds

    async def _fetch(self) -> None:
        try:
            response = await self.client.get(self.url)
            response.raise_for_status()
            keys = parse_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("jwks_fetch_failed", extra={"url": self.url, "error": repr(exc)})
            return
        if not keys:
            logger.warning("jwks_empty", extra={"url": self.url})
            return
        ttl = _max_age(response.headers.get("cache-control"))
        has_changed = keys.keys() != self._keys.keys()
        self._keys = keys
        self._expires_at = self.clock() + (self.default_ttl_seconds if ttl is None else ttl)
        logger.info("jwks_loaded", extra={"kids": sorted(keys)})
        if has_changed:
            for listener in self.key_set_listeners:
                try:
                    listener()
                except Exception:
                    logger.exception("jwks_listener_failed")


@asynccontextmanager
async def remote_token_verifier(
    settings: TokenVerificationSettings, tracing: Tracing | None = None
) -> AsyncIterator[tuple[VerifiedTokenCache, JWKSCache]]:
    """A verifier backed by the auth service's JWKS, with the HTTP client it fetches with;
    tokens it verified are remembered (`verified_token_cache_size`) until the keys change.
    While tracing is on, a fetch within a traced request is a span of it."""
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport()
    if tracing is not None:
        transport = TracedTransport(transport, tracing.tracer(__name__), peer_service="auth")
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), transport=transport) as client:
        cache = JWKSCache(
            client,
            settings.jwks_url,
            default_ttl_seconds=settings.jwks_cache_seconds,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
        )
        verifier = VerifiedTokenCache(
            TokenVerifier(
                cache,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                leeway_seconds=settings.jwt_leeway_seconds,
            ),
            max_entries=settings.verified_token_cache_size,
        )
        cache.key_set_listeners.append(verifier.clear)
        try:
            yield verifier, cache
        finally:
            await cache.aclose()
