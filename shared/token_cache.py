"""Tokens verified already, so that a client's every request does not pay for RS256 again.

A signature check costs a hundred times a lookup (bench/HISTORY.md). Entries are keyed by
the token's SHA-256 (the cache never holds a token), live no longer than the token's `exp`,
and the least recently used go first when the cache is full. A hit still asks the key cache for the
token's key, which keeps the published keys fresh; when they change the cache is emptied, so
that a dropped key stops being honoured as soon as the verifier learns of it.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

from shared.tokens import Identity, TokenVerifier, VerifiedToken


class VerifiedTokenCache:
    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        max_entries: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[bytes, VerifiedToken] = OrderedDict()

    async def verify(self, token: str) -> Identity:
        key = hashlib.sha256(token.encode()).digest()
        entry = self._entries.get(key)
        if entry is not None:
            is_key_published = await self.verifier.keys.key_for(entry.kid) is not None
            if self.clock() < entry.expires_at and is_key_published:
                self._entries.move_to_end(key)
                return entry.identity
            self._entries.pop(key, None)  # (another request may have dropped it meanwhile)
        verified = await self.verifier.verify_in_full(token)
        # A token accepted within the leeway past its exp is not worth remembering.
        if self.max_entries and verified.expires_at > self.clock():
            self._entries[key] = verified
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return verified.identity

    def clear(self) -> None:
        self._entries.clear()
