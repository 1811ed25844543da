"""New rows get time-ordered ids (UUIDv7); rows made before with random ones (UUIDv4) keep
working everywhere an id is taken."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from order_service.models import Event, Order, OrderLine
from order_service.money import CURRENCY
from tests.order_service.conftest import Catalogue, act, place_order
from tests.support.database import session_on


async def test_new_orders_products_and_events_get_uuid7_ids_in_the_order_made(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    catalogue: Catalogue,
    orders_database_url: str,
) -> None:
    product = await catalogue.add(stock=10)
    first = (await place_order(orders_client, alice, (product, 1))).json()
    second = (await place_order(orders_client, alice, (product, 1))).json()

    async with session_on(orders_database_url) as session:
        event_ids = (await session.scalars(select(Event.id).order_by(Event.position))).all()
    ids = [uuid.UUID(product["id"]), uuid.UUID(first["id"]), uuid.UUID(second["id"])]
    assert {made.version for made in [*ids, *event_ids]} == {7}
    assert ids == sorted(ids)


async def test_an_order_with_a_uuid4_id_is_read_listed_changed_and_paid(
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    alice_id: uuid.UUID,
    catalogue: Catalogue,
    orders_database_url: str,
) -> None:
    product = await catalogue.add(stock=10, price="3.00")
    earlier = uuid.uuid4()
    await _insert_order(orders_database_url, earlier, alice_id, product)
    location = f"/orders/{earlier}"

    shown = await orders_client.get(location, headers=alice)
    listed = await orders_client.get("/orders", headers=alice)
    changed = await orders_client.patch(
        location,
        json={"items": [{"product_id": product["id"], "quantity": 2}]},
        headers=alice,
    )
    paid = await act(orders_client, alice, {"id": str(earlier)}, "pay")

    assert shown.status_code == 200
    assert shown.json()["id"] == str(earlier)
    assert [order["id"] for order in listed.json()["items"]] == [str(earlier)]
    assert (changed.status_code, changed.json()["total"]) == (200, "6.00")
    assert (paid.status_code, paid.json()["status"]) == (200, "paid")


async def _insert_order(
    database_url: str, order_id: uuid.UUID, user_id: uuid.UUID, product: dict[str, Any]
) -> None:
    """An order as the service wrote it before its ids were time-ordered."""
    now = datetime.now(UTC)
    async with session_on(database_url) as session, session.begin():
        session.add(
            Order(
                id=order_id,
                user_id=user_id,
                status="pending",
                total=Decimal("3.00"),
                currency=CURRENCY,
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        session.add(
            OrderLine(
                order_id=order_id,
                position=0,
                product_id=uuid.UUID(product["id"]),
                sku=product["sku"],
                name=product["name"],
                quantity=1,
                unit_price=Decimal("3.00"),
                line_total=Decimal("3.00"),
            )
        )
