"""What the order service's handlers are given: the resources its lifespan opened."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from order_service.state import OrdersState
from shared.openapi import reaches_database


@reaches_database
async def orders_state(connection: HTTPConnection) -> OrdersState:
    """The lifespan's state: its store is the service's database."""
    state: OrdersState = connection.scope["state"]
    return state


State = Annotated[OrdersState, Depends(orders_state)]
