"""The resources an app's lifespan opens, and how its handlers reach them.

Each service declares its resources as a `TypedDict` and its lifespan yields one (Starlette's
lifespan state); the server hands every request a copy of it in `scope["state"]`. Nothing
hangs on the app object, and nothing is reached before the lifespan has opened it.
"""

from __future__ import annotations

from typing import Any, TypedDict

from starlette.requests import HTTPConnection

from shared.tokens import Verifier


async def lifespan_state(connection: HTTPConnection) -> Any:
    """The state of the request's app (a FastAPI dependency; typed by its `Annotated` use:
    `Annotated[OrdersState, Depends(lifespan_state)]`)."""
    return connection.scope["state"]


class VerifyingState(TypedDict):
    """What every service that checks bearer tokens holds (`shared.identity` reads it)."""

    verifier: Verifier
