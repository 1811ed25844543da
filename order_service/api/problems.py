"""The one mapping from the order service's domain errors to problem responses.

Every `DomainError` has its entry (a test checks); each is registered as the app's handler
for its type, so a use case raises what went wrong and the client gets its problem.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from order_service.errors import (
    DisallowedWebhookUrl,
    DomainError,
    IdempotencyKeyReused,
    OrderNotFound,
    OutOfStock,
    ProductNotFound,
    SkuTaken,
    StaleOrder,
    UnknownProducts,
    WebhookEndpointNotFound,
)
from order_service.lifecycle import (
    Action,
    ActionForbidden,
    InvalidTransition,
    OrderNotModifiable,
)
from shared.problem_types import (
    FORBIDDEN,
    IDEMPOTENCY_KEY_REUSED,
    INVALID_TRANSITION,
    NOT_FOUND,
    ORDER_NOT_MODIFIABLE,
    OUT_OF_STOCK,
    PRECONDITION_FAILED,
    SKU_TAKEN,
    VALIDATION_ERROR,
)
from shared.problems import Problem, render_problem

E = TypeVar("E", bound=DomainError)

PROBLEMS: dict[type[DomainError], Callable[[Any], Problem]] = {}


def _problem_for(error_type: type[E]) -> Callable[[Callable[[E], Problem]], Callable[[E], Problem]]:
    def register(to_problem: Callable[[E], Problem]) -> Callable[[E], Problem]:
        PROBLEMS[error_type] = to_problem
        return to_problem

    return register


_PAST = {
    Action.PAY: "paid",
    Action.SHIP: "shipped",
    Action.DELIVER: "delivered",
    Action.CANCEL: "cancelled",
}


@_problem_for(OutOfStock)
def _out_of_stock(error: OutOfStock) -> Problem:
    return Problem(
        OUT_OF_STOCK,
        f"Not enough stock for product {error.product_id}; nothing was reserved.",
        extensions={"product_id": str(error.product_id)},
    )


@_problem_for(UnknownProducts)
def _unknown_products(error: UnknownProducts) -> Problem:
    errors = [
        {
            "loc": ["body", "items"],
            "msg": f"Unknown product {product_id}",
            "type": "unknown_product",
        }
        for product_id in error.product_ids
    ]
    return Problem(
        VALIDATION_ERROR,
        "The order names products that do not exist.",
        extensions={"errors": errors},
    )


@_problem_for(SkuTaken)
def _sku_taken(_: SkuTaken) -> Problem:
    return Problem(SKU_TAKEN, "A product with this SKU already exists.")


@_problem_for(ProductNotFound)
def _product_not_found(_: ProductNotFound) -> Problem:
    return Problem(NOT_FOUND, "No such product.")


@_problem_for(OrderNotFound)
def _order_not_found(_: OrderNotFound) -> Problem:
    return Problem(NOT_FOUND, "No such order.")


@_problem_for(StaleOrder)
def _stale_order(error: StaleOrder) -> Problem:
    return Problem(
        PRECONDITION_FAILED,
        "The resource has changed since you read it; read it again and retry.",
        headers={"ETag": f'"{error.current_version}"'},
    )


@_problem_for(InvalidTransition)
def _invalid_transition(error: InvalidTransition) -> Problem:
    return Problem(
        INVALID_TRANSITION,
        f"An order that is {error.status} cannot be {_PAST[error.action]}.",
        extensions={"order_status": str(error.status), "action": str(error.action)},
    )


@_problem_for(OrderNotModifiable)
def _order_not_modifiable(error: OrderNotModifiable) -> Problem:
    return Problem(
        ORDER_NOT_MODIFIABLE,
        f"Only a pending order can be changed; this one is {error.status}.",
        extensions={"order_status": str(error.status)},
    )


@_problem_for(IdempotencyKeyReused)
def _idempotency_key_reused(_: IdempotencyKeyReused) -> Problem:
    return Problem(
        IDEMPOTENCY_KEY_REUSED,
        "This Idempotency-Key was used with a different request; use a new key.",
        extensions={
            "errors": [
                {
                    "loc": ["header", "Idempotency-Key"],
                    "msg": "Already used with a different request body",
                    "type": "idempotency_key_reused",
                }
            ]
        },
    )


@_problem_for(DisallowedWebhookUrl)
def _disallowed_webhook_url(error: DisallowedWebhookUrl) -> Problem:
    return Problem(
        VALIDATION_ERROR,
        f"Webhooks cannot go to this URL: {error}.",
        extensions={
            "errors": [{"loc": ["body", "url"], "msg": str(error), "type": "disallowed_url"}]
        },
    )


@_problem_for(WebhookEndpointNotFound)
def _webhook_endpoint_not_found(_: WebhookEndpointNotFound) -> Problem:
    return Problem(NOT_FOUND, "No such webhook endpoint.")


@_problem_for(ActionForbidden)
def _action_forbidden(error: ActionForbidden) -> Problem:
    return Problem(FORBIDDEN, f"You may not {error.action} this order.")


def _answering(
    to_problem: Callable[[Any], Problem],
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def answer(_: Request, error: Exception) -> JSONResponse:
        return render_problem(to_problem(error))

    return answer


def install_problems(app: FastAPI) -> None:
    for error_type, to_problem in PROBLEMS.items():
        app.add_exception_handler(error_type, _answering(to_problem))
