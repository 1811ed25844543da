"""What the proxy reads of a client's request before sending it on: its framing (the token,
whether a body follows) from one pass over the headers, and its target."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from starlette.types import Scope

from gateway.headers import RawHeaders


@dataclass(slots=True)
class Framing:
    """What the proxy needs of the client's headers, read in one pass."""

    authorization: str | None = None
    declared_length: int | None = None
    is_chunked: bool = False

    @property
    def has_body(self) -> bool:
        # `Content-Length: 0` (some clients send it with a GET) is no body to stream.
        return self.is_chunked or self.declared_length != 0


def framing_of(headers: RawHeaders) -> Framing:
    framing = Framing(declared_length=0)  # no Content-Length: no body, unless chunked
    for name, value in headers:  # ASGI servers lower-case header names
        if name == b"authorization" and framing.authorization is None:
            framing.authorization = value.decode("latin-1")
        elif name == b"content-length":
            framing.declared_length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            framing.is_chunked = True
    return framing


def has_dot_segments(path: str) -> bool:
    """Whether the (percent-decoded) path has `.` or `..` segments."""
    return "/." in path and any(segment in {".", ".."} for segment in path.split("/"))


def upstream_url(base_url: str, scope: Scope) -> httpx.URL:
    """The upstream URL with the client's path and query exactly as they were sent (the
    server checked the request target: it is ASCII)."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope["query_string"]
    target = (raw_path + b"?" + query if query else raw_path).decode("latin-1")
    return httpx.URL(base_url + target)
