"""The status machine over every (status, action) pair, and who may take each action."""

from __future__ import annotations

import itertools

import pytest

from order_service.lifecycle import (
    Action,
    ActionForbidden,
    Actor,
    InvalidTransition,
    OrderNotModifiable,
    OrderStatus,
    ensure_allowed,
    ensure_modifiable,
    next_status,
)

P, A = OrderStatus, Action
# The contract's whole table: every pair not listed here is an invalid transition.
EXPECTED = {
    (P.PENDING, A.PAY): P.PAID,
    (P.PAID, A.SHIP): P.SHIPPED,
    (P.SHIPPED, A.DELIVER): P.DELIVERED,
    (P.PENDING, A.CANCEL): P.CANCELLED,
    (P.PAID, A.CANCEL): P.CANCELLED,
}


@pytest.mark.parametrize(
    ("status", "action"),
    list(itertools.product(OrderStatus, Action)),
    ids=lambda value: str(value),
)
def test_every_status_and_action(status: OrderStatus, action: Action) -> None:
    if (status, action) in EXPECTED:
        assert next_status(status, action) is EXPECTED[status, action]
    else:
        with pytest.raises(InvalidTransition):
            next_status(status, action)


@pytest.mark.parametrize("status", list(OrderStatus), ids=str)
def test_only_a_pending_order_can_be_modified(status: OrderStatus) -> None:
    if status is OrderStatus.PENDING:
        ensure_modifiable(status)
    else:
        with pytest.raises(OrderNotModifiable):
            ensure_modifiable(status)


@pytest.mark.parametrize(
    ("action", "actors", "is_allowed"),
    [
        (A.PAY, {Actor.OWNER}, True),
        (A.PAY, {Actor.ADMIN}, False),
        (A.PAY, {Actor.OWNER, Actor.ADMIN}, True),
        (A.SHIP, {Actor.OWNER}, False),
        (A.SHIP, {Actor.ADMIN}, True),
        (A.DELIVER, {Actor.OWNER}, False),
        (A.DELIVER, {Actor.ADMIN}, True),
        (A.CANCEL, {Actor.OWNER}, True),
        (A.CANCEL, {Actor.ADMIN}, True),
        (A.CANCEL, set(), False),
    ],
)
def test_who_may_take_each_action(action: Action, actors: set[Actor], is_allowed: bool) -> None:
    if is_allowed:
        ensure_allowed(action, actors)
    else:
        with pytest.raises(ActionForbidden):
            ensure_allowed(action, actors)
