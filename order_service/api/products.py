"""`/products`: the catalogue. Anyone signed in reads it; admins write it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from order_service.api.dependencies import State
from order_service.products import add_product, change_product, get_product, list_products
from order_service.schemas import ProductCreate, ProductOut, ProductPage, ProductUpdate
from shared.identity import AdminIdentity, CurrentIdentity
from shared.openapi_responses import problems, sends
from shared.pagination import CursorParam, Limit
from shared.problem_types import SKU_TAKEN

router = APIRouter(prefix="/products", tags=["products"])

# For clients that follow links (and the fuzz test's stateful phase): a new product can be
# ordered at once.
_ORDER_IT = {
    "create_order": {
        "operationId": "create_order",
        "requestBody": {"items": [{"product_id": "$response.body#/id", "quantity": 1}]},
    }
}


@router.post(
    "",
    status_code=201,
    response_model=ProductOut,
    summary="Add a product (admin)",
    responses={201: {**sends("Location"), "links": _ORDER_IT}, **problems(SKU_TAKEN)},
)
async def create_product(
    body: ProductCreate, state: State, _: AdminIdentity, response: Response
) -> ProductOut:
    product = await add_product(
        state["store"], sku=body.sku, name=body.name, price=body.price, stock=body.stock
    )
    response.headers["Location"] = f"/products/{product.id}"
    return ProductOut.model_validate(product)


@router.get("", response_model=ProductPage, summary="List products, newest first")
async def browse_products(
    state: State, _: CurrentIdentity, limit: Limit = 20, cursor: CursorParam = None
) -> ProductPage:
    page = await list_products(state["store"], limit=limit, cursor=cursor)
    return ProductPage(
        items=[ProductOut.model_validate(product) for product in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{product_id}", response_model=ProductOut, summary="One product")
async def show_product(product_id: uuid.UUID, state: State, _: CurrentIdentity) -> ProductOut:
    return ProductOut.model_validate(await get_product(state["store"], product_id))


@router.patch(
    "/{product_id}",
    response_model=ProductOut,
    summary="Change a product's name, price or stock (admin)",
)
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, state: State, _: AdminIdentity
) -> ProductOut:
    return ProductOut.model_validate(
        await change_product(state["store"], product_id, body.changes())
    )
