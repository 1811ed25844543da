"""The catalogue: products with a unique SKU, a price and a stock level."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.models import Product
from shared.pagination import Page, newest_first_page, page_of


class ProductNotFound(Exception):
    pass


class SkuTaken(Exception):
    pass


async def create_product(
    session: AsyncSession, *, sku: str, name: str, price: Decimal, stock: int
) -> Product:
    product = Product(sku=sku, name=name, price=price, stock=stock)
    session.add(product)
    try:
        await session.flush()
    except IntegrityError:
        raise SkuTaken(sku) from None
    return product


async def get_product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await session.get(Product, product_id)
    if product is None:
        raise ProductNotFound(product_id)
    return product


async def update_product(
    session: AsyncSession, product_id: uuid.UUID, changes: Mapping[str, object]
) -> Product:
    """Set the given fields (name, price, stock); orders already placed keep their prices."""
    product = await session.get(Product, product_id, with_for_update=True)
    if product is None:
        raise ProductNotFound(product_id)
    for field, value in changes.items():
        setattr(product, field, value)
    await session.flush()
    return product


async def list_products(session: AsyncSession, *, limit: int, cursor: str | None) -> Page[Product]:
    statement = newest_first_page(
        select(Product), Product.created_at, Product.id, limit=limit, after=cursor, scope="products"
    )
    return page_of((await session.scalars(statement)).all(), limit, "products")
