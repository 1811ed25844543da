"""Stock: conditional atomic updates that can never oversell.

Each product's stock changes in one `UPDATE … WHERE stock >= taken`: the row lock and the
check are one atomic step, so concurrent orders cannot oversell. Every change of an order
touches its products in id order, so two orders always lock in the same order and cannot
deadlock. The caller's transaction makes each change all-or-nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
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
class Snapshot:
    """A product as it was when its stock changed: what an order line records."""

    sku: str
    name: str
    unit_price: Decimal


class UnknownProducts(Exception):
    def __init__(self, product_ids: Sequence[uuid.UUID]) -> None:
        super().__init__(f"unknown products: {', '.join(map(str, product_ids))}")
        self.product_ids = list(product_ids)


class OutOfStock(Exception):
    def __init__(self, product_id: uuid.UUID) -> None:
        super().__init__(f"not enough stock for product {product_id}")
        self.product_id = product_id


async def ensure_products_exist(session: AsyncSession, product_ids: Sequence[uuid.UUID]) -> None:
    """Raise `UnknownProducts` naming every id that is not in the catalogue."""
    known = set(await session.scalars(select(Product.id).where(Product.id.in_(product_ids))))
    unknown = [product_id for product_id in product_ids if product_id not in known]
    if unknown:
        raise UnknownProducts(unknown)


async def change_stock(
    session: AsyncSession, taken: Mapping[uuid.UUID, int]
) -> dict[uuid.UUID, Snapshot]:
    """Take `taken[id]` units of each product (a negative number gives units back).

    Raises `OutOfStock` for the first product short of units; the caller's transaction
    then undoes the others. Returns each product as it is now.
    """
    snapshots: dict[uuid.UUID, Snapshot] = {}
    for product_id, quantity in sorted(taken.items()):
        columns = (Product.sku, Product.name, Product.price)
        if quantity == 0:
            # Unchanged, but locked like the others: its snapshot must not move meanwhile.
            locked = (
                select(*columns)
                .where(Product.id == product_id)
                # FOR NO KEY UPDATE, as the UPDATEs take: foreign-key checks still pass.
                .with_for_update(key_share=True)
            )
            row = (await session.execute(locked)).one_or_none()
        else:
            changed = (
                update(Product)
                .where(Product.id == product_id, Product.stock >= max(quantity, 0))
                .values(stock=Product.stock - quantity, updated_at=utc_now())
                .returning(*columns)
            )
            row = (await session.execute(changed)).one_or_none()
        if row is None:
            raise OutOfStock(product_id)
        snapshots[product_id] = Snapshot(row.sku, row.name, row.price)
    return snapshots


async def reserve_stock(
    session: AsyncSession, requested: Sequence[Requested]
) -> dict[uuid.UUID, Snapshot]:
    """Take the requested quantities out of stock, or raise and take nothing."""
    await ensure_products_exist(session, [line.product_id for line in requested])
    return await change_stock(session, {line.product_id: line.quantity for line in requested})
