"""The catalogue's products: added, read, listed and changed, each in one statement."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, bindparam, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from order_service.models import Product
from order_service.records import ProductRecord
from shared.database import dialect_insert
from shared.pagination import Page, newest_first_page, page_of

PRODUCTS_SCOPE = "products"

_COLUMNS = (
    Product.id,
    Product.sku,
    Product.name,
    Product.price,
    Product.stock,
    Product.created_at,
    Product.updated_at,
    Product.version,
)
# Every column of a product, in the record's fields: what the stock's statements return too.
PRODUCT_COLUMNS = _COLUMNS
_READ = select(*_COLUMNS).where(Product.id == bindparam("product_id", type_=Uuid))
_LOCKED_READ = _READ.with_for_update()


def product_of(row: Row[*tuple[Any, ...]]) -> ProductRecord:
    """A product from a row of `PRODUCT_COLUMNS`."""
    return ProductRecord(**row._mapping)  # the columns are the record's fields


async def insert_product(connection: AsyncConnection, product: ProductRecord) -> bool:
    """Add `product`; False when its SKU is taken (nothing is added then)."""
    statement = (
        dialect_insert(connection.dialect, Product)
        .values(**asdict(product))
        .on_conflict_do_nothing(index_elements=[Product.sku])
        .returning(Product.id)
    )
    return await connection.scalar(statement) is not None


async def read_product(connection: AsyncConnection, product_id: uuid.UUID) -> ProductRecord | None:
    row = (await connection.execute(_READ, {"product_id": product_id})).one_or_none()
    return product_of(row) if row is not None else None


async def lock_product(connection: AsyncConnection, product_id: uuid.UUID) -> ProductRecord | None:
    """The product, locked until the transaction ends (on SQLite, the transaction holds the
    database's write lock already)."""
    row = (await connection.execute(_LOCKED_READ, {"product_id": product_id})).one_or_none()
    return product_of(row) if row is not None else None


async def read_products_page(
    connection: AsyncConnection, *, limit: int, after: str | None
) -> Page[ProductRecord]:
    statement = newest_first_page(
        select(*_COLUMNS),
        Product.created_at,
        Product.id,
        limit=limit,
        after=after,
        scope=PRODUCTS_SCOPE,
    )
    rows = (await connection.execute(statement)).all()
    return page_of([product_of(row) for row in rows], limit, PRODUCTS_SCOPE)


async def update_product(
    connection: AsyncConnection,
    product_id: uuid.UUID,
    changes: Mapping[str, object],
    *,
    now: datetime,
) -> ProductRecord | None:
    """Set the given fields (name, price, stock) at the product's next version; the product
    as it is now, or None."""
    statement = (
        update(Product)
        .where(Product.id == product_id)
        .values(**changes, updated_at=now, version=Product.version + 1)
        .returning(*_COLUMNS)
    )
    row = (await connection.execute(statement)).one_or_none()
    return product_of(row) if row is not None else None
