"""The order service's HTTP layer: routers, and the one mapping from domain errors to problems."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from order_service.api.orders import router as orders_router
from order_service.api.products import router as products_router
from order_service.idempotency import IdempotencyKeyReused
from order_service.lifecycle import (
    Action,
    ActionForbidden,
    InvalidTransition,
    OrderNotModifiable,
)
from order_service.orders import OrderNotFound
from order_service.products import ProductNotFound, SkuTaken
from order_service.stock import OutOfStock, UnknownProducts
from shared.problems import Problem, render_problem

_PAST = {
    Action.PAY: "paid",
    Action.SHIP: "shipped",
    Action.DELIVER: "delivered",
    Action.CANCEL: "cancelled",
}


def _problem_for(exc: Exception) -> Problem:
    match exc:
        case OutOfStock():
            return Problem(
                409,
                f"Not enough stock for product {exc.product_id}; nothing was reserved.",
                slug="out-of-stock",
                extensions={"product_id": str(exc.product_id)},
            )
        case UnknownProducts():
            errors = [
                {
                    "loc": ["body", "items"],
                    "msg": f"Unknown product {product_id}",
                    "type": "unknown_product",
                }
                for product_id in exc.product_ids
            ]
            return Problem(
                422,
                "The order names products that do not exist.",
                slug="validation-error",
                extensions={"errors": errors},
            )
        case SkuTaken():
            return Problem(409, "A product with this SKU already exists.", slug="sku-taken")
        case ProductNotFound():
            return Problem(404, "No such product.")
        case OrderNotFound():
            return Problem(404, "No such order.")
        case InvalidTransition():
            return Problem(
                409,
                f"An order that is {exc.status} cannot be {_PAST[exc.action]}.",
                slug="invalid-transition",
                extensions={"order_status": str(exc.status), "action": str(exc.action)},
            )
        case OrderNotModifiable():
            return Problem(
                409,
                f"Only a pending order can be changed; this one is {exc.status}.",
                slug="order-not-modifiable",
                extensions={"order_status": str(exc.status)},
            )
        case IdempotencyKeyReused():
            return Problem(
                422,
                "This Idempotency-Key was used with a different request; use a new key.",
                slug="idempotency-key-reused",
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
        case ActionForbidden():
            return Problem(403, f"You may not {exc.action} this order.")
    raise exc


async def _handle_domain_error(_: Request, exc: Exception) -> JSONResponse:
    return render_problem(_problem_for(exc))


def install_api(app: FastAPI) -> None:
    app.include_router(products_router)
    app.include_router(orders_router)
    for error in (
        OutOfStock,
        UnknownProducts,
        SkuTaken,
        ProductNotFound,
        OrderNotFound,
        InvalidTransition,
        OrderNotModifiable,
        ActionForbidden,
        IdempotencyKeyReused,
    ):
        app.add_exception_handler(error, _handle_domain_error)
