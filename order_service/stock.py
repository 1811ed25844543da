"""Stock reservation: conditional atomic decrements that can never oversell."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.models import Product
from shared.database import utc_now


@dataclass(frozen=True)
class Requested:
    product_id: uuid.UUID
    quantity: int


@dataclass(frozen=True)
class Reserved:
    """A reserved line, with the product as it was at the moment of reservation."""

    product_id: uuid.UUID
    sku: str
    name: str
    unit_price: Decimal
    quantity: int


class UnknownProducts(Exception):
    def __init__(self, product_ids: Sequence[uuid.UUID]) -> None:
        super().__init__(f"unknown products: {', '.join(map(str, product_ids))}")
        self.product_ids = list(product_ids)


class OutOfStock(Exception):
    def __init__(self, product_id: uuid.UUID) -> None:
        super().__init__(f"not enough stock for product {product_id}")
        self.product_id = product_id


async def reserve_stock(session: AsyncSession, requested: Sequence[Requested]) -> list[Reserved]:
    """Take the requested quantities out of stock, or raise and take nothing.

    Each decrement is one `UPDATE … WHERE stock >= quantity`: the row lock and the check are
    one atomic step, so concurrent orders cannot oversell. Products are touched in id order,
    so two multi-line orders always lock in the same order and cannot deadlock. The caller's
    transaction makes the whole order all-or-nothing.
    """
    product_ids = [line.product_id for line in requested]
    known = set(await session.scalars(select(Product.id).where(Product.id.in_(product_ids))))
    unknown = [product_id for product_id in product_ids if product_id not in known]
    if unknown:
        raise UnknownProducts(unknown)

    reserved: dict[uuid.UUID, Reserved] = {}
    for line in sorted(requested, key=lambda line: line.product_id):
        row = (
            await session.execute(
                update(Product)
                .where(Product.id == line.product_id, Product.stock >= line.quantity)
                .values(stock=Product.stock - line.quantity, updated_at=utc_now())
                .returning(Product.sku, Product.name, Product.price)
            )
        ).one_or_none()
        if row is None:
            raise OutOfStock(line.product_id)
        reserved[line.product_id] = Reserved(
            line.product_id, row.sku, row.name, row.price, line.quantity
        )
    # Lines keep the order the client gave them in.
    return [reserved[line.product_id] for line in requested]
