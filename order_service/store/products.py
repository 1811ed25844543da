"""The catalogue's products: added, read, listed and changed, each in one statement."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from functools import cache

from sqlalchemy import Uuid, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from order_service.models import Product
from order_service.records import ProductRecord
from order_service.store.sql import Connection, Query, Row, query, sqlite_query
from shared.database import UTCDateTime
from shared.pagination import Page, newest_first_page, page_of, page_parameters

PRODUCTS_SCOPE = "products"

# Every column of a product, in the record's fields: what the stock's statements return too.
PRODUCT_COLUMNS = (
    Product.id,
    Product.sku,
    Product.name,
    Product.price,
    Product.stock,
    Product.created_at,
    Product.updated_at,
    Product.version,
)
_READ = select(*PRODUCT_COLUMNS).where(Product.id == bindparam("product_id", type_=Uuid))
READ_PRODUCT = query(_READ)
_LOCK_PRODUCT = query(_READ.with_for_update())
_FIELDS = tuple(column.key for column in PRODUCT_COLUMNS)
# An upsert has no portable spelling: each database's own, with the same effect.
_INSERT = {
    "postgresql": query(
        postgresql.insert(Product)
        .on_conflict_do_nothing(index_elements=[Product.sku])
        .returning(Product.id),
        params=_FIELDS,
    ),
    "sqlite": sqlite_query(
        sqlite.insert(Product)
        .on_conflict_do_nothing(index_elements=[Product.sku])
        .returning(Product.id)
    ),
}
PRODUCT_PAGES = {
    is_after: query(
        newest_first_page(
            select(*PRODUCT_COLUMNS),
            Product.created_at,
            Product.id,
            is_after_a_cursor=is_after,
        )
    )
    for is_after in (False, True)
}


def product_of(row: Row) -> ProductRecord:
    """A product from a row of `PRODUCT_COLUMNS`."""
    return ProductRecord(**{field: row[field] for field in _FIELDS})


async def insert_product(connection: Connection, product: ProductRecord) -> bool:
    """Add `product`; False when its SKU is taken (nothing is added then)."""
    return await connection.fetchval(_INSERT[connection.dialect_name], asdict(product)) is not None


async def read_product(connection: Connection, product_id: uuid.UUID) -> ProductRecord | None:
    row = await connection.fetchrow(READ_PRODUCT, {"product_id": product_id})
    return product_of(row) if row is not None else None


async def lock_product(connection: Connection, product_id: uuid.UUID) -> ProductRecord | None:
    """The product, locked until the transaction ends (on SQLite, the transaction holds the
    database's write lock already)."""
    row = await connection.fetchrow(_LOCK_PRODUCT, {"product_id": product_id})
    return product_of(row) if row is not None else None


async def read_products_page(
    connection: Connection, *, limit: int, after: str | None
) -> Page[ProductRecord]:
    parameters = page_parameters(limit=limit, after=after, scope=PRODUCTS_SCOPE)
    rows = await connection.fetch(PRODUCT_PAGES[after is not None], parameters)
    return page_of([product_of(row) for row in rows], limit, PRODUCTS_SCOPE)


@cache
def _update(fields: frozenset[str]) -> Query:
    """Setting these fields (and the time, and the next version), compiled once each."""
    return query(
        update(Product)
        .where(Product.id == bindparam("product_id", type_=Uuid))
        .values(updated_at=bindparam("changed_at", type_=UTCDateTime), version=Product.version + 1)
        .returning(*PRODUCT_COLUMNS),
        params=sorted(fields),
    )


async def update_product(
    connection: Connection,
    product_id: uuid.UUID,
    changes: Mapping[str, object],
    *,
    now: datetime,
) -> ProductRecord | None:
    """Set the given fields (name, price, stock) at the product's next version; the product
    as it is now, or None."""
    statement = _update(frozenset(changes))
    row = await connection.fetchrow(
        statement, {**changes, "product_id": product_id, "changed_at": now}
    )
    return product_of(row) if row is not None else None
