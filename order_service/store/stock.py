"""Stock: conditional atomic updates that can never oversell.

Each product's stock changes in one `UPDATE … WHERE stock >= taken`: the row lock and the
check are one atomic step, so concurrent orders cannot oversell. Every change of an order
touches its products in id order, so two orders always lock in the same order and cannot
deadlock. The caller's transaction makes each change all-or-nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import Integer, Uuid, any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from order_service.errors import OutOfStock, UnknownProducts
from order_service.models import Product
from order_service.records import ProductRecord, Requested
from order_service.store.products import PRODUCT_COLUMNS, product_of
from order_service.store.sql import Connection, query, sqlite_query
from shared.database import UTCDateTime, utc_now

# The ids among a list that are products: an array parameter on Postgres (one text whatever
# the list's length), the list spelled out on SQLite.
_KNOWN = {
    "postgresql": query(
        select(Product.id).where(Product.id == any_(bindparam("ids", type_=ARRAY(Uuid))))
    ),
    "sqlite": sqlite_query(
        select(Product.id).where(Product.id.in_(bindparam("ids", expanding=True)))
    ),
}


async def ensure_products_exist(connection: Connection, product_ids: Sequence[uuid.UUID]) -> None:
    """Raise `UnknownProducts` naming every id that is not in the catalogue."""
    rows = await connection.fetch(_KNOWN[connection.dialect_name], {"ids": list(product_ids)})
    known = {row["id"] for row in rows}
    unknown = [product_id for product_id in product_ids if product_id not in known]
    if unknown:
        raise UnknownProducts(unknown)


# Built once: a statement built per call costs more CPU than its round trip. Each returns the
# whole product: an order line copies its name and price, and its event shows all of it.
TAKE_STOCK = query(
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
_LOCK = query(
    select(*PRODUCT_COLUMNS)
    .where(Product.id == bindparam("taken_id", type_=Uuid))
    .with_for_update(key_share=True)
)


async def change_stock(
    connection: Connection, taken: Mapping[uuid.UUID, int]
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
            row = await connection.fetchrow(_LOCK, {"taken_id": product_id})
        else:
            parameters = {
                "taken_id": product_id,
                "at_least": max(quantity, 0),
                "taken": quantity,
                "changed_at": now,
            }
            row = await connection.fetchrow(TAKE_STOCK, parameters)
        if row is None:
            raise OutOfStock(product_id)
        products[product_id] = product_of(row)
    return products


async def reserve_stock(
    connection: Connection, requested: Sequence[Requested]
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
