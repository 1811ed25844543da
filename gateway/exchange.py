"""One proxied request on its way through the pipeline: what it asks for, where it goes, and
what each step decided about it."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Receive, Scope

from gateway.body import ClientBody
from gateway.incoming import Framing
from gateway.rate_limit import Decision
from gateway.routes import ProxyRoute
from gateway.timing import Timings
from gateway.upstreams import Upstream
from shared.tokens import Identity


@dataclass(slots=True)
class Exchange:
    scope: Scope
    receive: Receive
    route: ProxyRoute
    upstream: Upstream
    # What the client's headers say: its token, and whether (and how long) a body follows.
    framing: Framing
    timings: Timings
    # Decided by the steps, in order: who it is, its rate limit, its circuit ticket.
    identity: Identity | None = None
    limit: Decision | None = None
    ticket: int | None = None
    # The client's body as the transport reads it, if it has one.
    body: ClientBody | None = None

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @property
    def client_address(self) -> str | None:
        client = self.scope.get("client")
        return client[0] if client else None

    @property
    def rate_limit_key(self) -> str:
        """A user's own bucket; an anonymous client's (or a refused token's) address's."""
        if self.identity is not None:
            return f"user:{self.identity.user_id}"
        return f"address:{self.client_address or 'unknown'}"
