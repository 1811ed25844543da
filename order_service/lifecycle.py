"""The order status machine, as tables: which action leads where, and who may take it.

pending → paid → shipped → delivered; pending → cancelled; paid → cancelled. Everything
else is an invalid transition. Only a pending order's lines may be changed.
"""

from __future__ import annotations

from enum import StrEnum

from order_service.errors import DomainError


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Action(StrEnum):
    PAY = "pay"
    SHIP = "ship"
    DELIVER = "deliver"
    CANCEL = "cancel"


class Actor(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"


TRANSITIONS: dict[tuple[OrderStatus, Action], OrderStatus] = {
    (OrderStatus.PENDING, Action.PAY): OrderStatus.PAID,
    (OrderStatus.PAID, Action.SHIP): OrderStatus.SHIPPED,
    (OrderStatus.SHIPPED, Action.DELIVER): OrderStatus.DELIVERED,
    (OrderStatus.PENDING, Action.CANCEL): OrderStatus.CANCELLED,
    (OrderStatus.PAID, Action.CANCEL): OrderStatus.CANCELLED,
}

# The customer pays; the shop ships and delivers; either may cancel.
ALLOWED_ACTORS: dict[Action, frozenset[Actor]] = {
    Action.PAY: frozenset({Actor.OWNER}),
    Action.SHIP: frozenset({Actor.ADMIN}),
    Action.DELIVER: frozenset({Actor.ADMIN}),
    Action.CANCEL: frozenset({Actor.OWNER, Actor.ADMIN}),
}


class InvalidTransition(DomainError):
    def __init__(self, status: OrderStatus, action: Action) -> None:
        super().__init__(f"cannot {action} an order that is {status}")
        self.status = status
        self.action = action


class OrderNotModifiable(DomainError):
    def __init__(self, status: OrderStatus) -> None:
        super().__init__(f"an order that is {status} cannot be changed")
        self.status = status


class ActionForbidden(DomainError):
    def __init__(self, action: Action) -> None:
        super().__init__(f"not allowed to {action} this order")
        self.action = action


def next_status(status: OrderStatus, action: Action) -> OrderStatus:
    """Where `action` takes an order in `status`; raises `InvalidTransition`."""
    try:
        return TRANSITIONS[status, action]
    except KeyError:
        raise InvalidTransition(status, action) from None


def ensure_allowed(action: Action, actors: set[Actor]) -> None:
    """Raise `ActionForbidden` unless one of `actors` may take `action`."""
    if not actors & ALLOWED_ACTORS[action]:
        raise ActionForbidden(action)


def ensure_modifiable(status: OrderStatus) -> None:
    if status != OrderStatus.PENDING:
        raise OrderNotModifiable(status)


def releases_stock(action: Action) -> bool:
    """A cancelled order gives its units back."""
    return action is Action.CANCEL
