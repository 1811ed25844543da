"""The catalogue: products with a unique SKU, a price and a stock level."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal

from order_service.errors import ProductNotFound, SkuTaken
from order_service.events import stock_events
from order_service.money import to_money
from order_service.records import ProductRecord
from order_service.store import Store
from order_service.store.events import insert_events
from order_service.store.products import (
    insert_product,
    lock_product,
    read_product,
    read_products_page,
    update_product,
)
from shared.database import utc_now
from shared.identifiers import uuid7
from shared.pagination import Page


async def add_product(
    store: Store, *, sku: str, name: str, price: Decimal, stock: int
) -> ProductRecord:
    """A new product; raises `SkuTaken`."""
    now = utc_now()
    product = ProductRecord(
        id=uuid7(),
        sku=sku,
        name=name,
        price=to_money(price),
        stock=stock,
        created_at=now,
        updated_at=now,
        version=1,
    )
    async with store.writing() as connection:
        if not await insert_product(connection, product):
            raise SkuTaken(sku)
    return product


async def get_product(store: Store, product_id: uuid.UUID) -> ProductRecord:
    async with store.reading() as connection:
        product = await read_product(connection, product_id)
    if product is None:
        raise ProductNotFound(product_id)
    return product


async def list_products(store: Store, *, limit: int, cursor: str | None) -> Page[ProductRecord]:
    """Newest first."""
    async with store.reading() as connection:
        return await read_products_page(connection, limit=limit, after=cursor)


async def change_product(
    store: Store, product_id: uuid.UUID, changes: Mapping[str, object]
) -> ProductRecord:
    """Set the given fields (name, price, stock); orders already placed keep their prices.
    A new stock level is an event (and so is none left)."""
    async with store.writing() as connection:
        # The stock it had, if it may change: only a change is an event.
        before = await lock_product(connection, product_id) if "stock" in changes else None
        product = await update_product(connection, product_id, changes, now=utc_now())
        if product is None:
            raise ProductNotFound(product_id)
        if before is not None and before.stock != product.stock:
            await insert_events(connection, stock_events([product]))
    return product
