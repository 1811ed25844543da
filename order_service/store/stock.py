"""Stock: conditional atomic updates that can never oversell.

Each product's stock changes in one `UPDATE … WHERE stock >= taken`: the row lock and the
check are one atomic step, so concurrent orders cannot oversell. Every change of an order
touches its products in id order, so two orders always lock in the same order and cannot
deadlock. The caller's transaction makes each change all-or-nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import Integer, Uuid, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from order_service.errors import OutOfStock, UnknownProducts
from order_service.models import Product
from order_service.records import ProductRecord, Requested
from order_service.store.products import PRODUCT_COLUMNS, product_of
from shared.database import UTCDateTime, utc_now


async def ensure_products_exist(
    connection: AsyncConnection, product_ids: Sequence[uuid.UUID]
) -> None:
    """Raise `UnknownProducts` naming every id that is not in the catalogue."""
    known = set(await connection.scalars(select(Product.id).where(Product.id.in_(product_ids))))
    unknown = [product_id for product_id in product_ids if product_id not in known]
    if unknown:
        raise UnknownProducts(unknown)


# Built once: a statement built per call costs more CPU than its round trip. Each returns the
# whole product: an order line copies its name and price, and its event shows all of it.
_TAKE = (
    update(Product)
    .where(
        Product.id == bindparam("taken_id", type_=Uuid),
        Product.stock >= bindparam("at_least", type_=Integer),
    )
    .values(
        stock=Product.stock - bindparam("taken", type_=Integer),
        updated_at=bindparam("changed_at", type_=UTCDateTime),
        version=Product.version + 1,
    )
    .returning(*PRODUCT_COLUMNS)
)
# Unchanged, but locked like the others: its name and price must not move meanwhile.
# FOR NO KEY UPDATE, as the UPDATEs take: foreign-key checks still pass.
_LOCK = (
    select(*PRODUCT_COLUMNS)
    .where(Product.id == bindparam("taken_id", type_=Uuid))
    .with_for_update(key_share=True)
)


async def change_stock(
    connection: AsyncConnection, taken: Mapping[uuid.UUID, int]
) -> dict[uuid.UUID, ProductRecord]:
    """Take `taken[id]` units of each product (a negative number gives units back; a product
    with 0 is only locked), each moved product at its next version.

    Raises `OutOfStock` for the first product short of units (or not in the catalogue); the
    caller's transaction then undoes the others. Returns each product as it is now.
    """
    products: dict[uuid.UUID, ProductRecord] = {}
    now = utc_now()
    for product_id, quantity in sorted(taken.items()):
        if quantity == 0:
            result = await connection.execute(_LOCK, {"taken_id": product_id})
        else:
            parameters = {
                "taken_id": product_id,
                "at_least": max(quantity, 0),
                "taken": quantity,
                "changed_at": now,
            }
            result = await connection.execute(_TAKE, parameters)
        row = result.one_or_none()
        if row is None:
            raise OutOfStock(product_id)
        products[product_id] = product_of(row)
    return products


async def reserve_stock(
    connection: AsyncConnection, requested: Sequence[Requested]
) -> dict[uuid.UUID, ProductRecord]:
    """Take the requested quantities out of stock, or raise and take nothing.

    One statement per product when every product is known and in stock; only a failure asks
    which products exist, so that an unknown one is told apart from one out of stock.
    """
    try:
        return await change_stock(
            connection, {line.product_id: line.quantity for line in requested}
        )
    except OutOfStock:
        await ensure_products_exist(connection, [line.product_id for line in requested])
        raise
