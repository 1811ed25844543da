"""What the order service's handlers are given: the resources its lifespan opened."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from order_service.state import OrdersState
from shared.state import lifespan_state

State = Annotated[OrdersState, Depends(lifespan_state)]
