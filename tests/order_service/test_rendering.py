"""An order is validated and rendered once per answer: the body of a change's answer is the
very text its event carries."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest

from order_service.schemas import OrderOut
from tests.order_service.conftest import Catalogue, events_about, place_order


@pytest.fixture
def renderings(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often an order is validated, and rendered (as JSON text or as Python values)."""
    counted: Counter[str] = Counter()
    for name in ("model_validate", "model_dump_json", "model_dump"):
        original = getattr(OrderOut, name)

        def counting(
            *args: Any, _name: str = name, _original: Any = original, **kwargs: Any
        ) -> Any:
            counted[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(OrderOut, name, counting)
    return counted


async def test_each_change_of_an_order_validates_and_renders_it_once(
    catalogue: Catalogue,
    orders_client: httpx.AsyncClient,
    alice: dict[str, str],
    admin: dict[str, str],
    renderings: Counter[str],
) -> None:
    product = await catalogue.add(stock=10)
    renderings.clear()
    placed = await place_order(orders_client, alice, (product, 1))
    assert placed.status_code == 201
    assert renderings == {"model_validate": 1, "model_dump_json": 1}

    renderings.clear()
    order_path = placed.headers["Location"]
    changed = await orders_client.patch(
        order_path, json={"items": [{"product_id": product["id"], "quantity": 2}]}, headers=alice
    )
    assert changed.status_code == 200
    assert renderings == {"model_validate": 1, "model_dump_json": 1}

    renderings.clear()
    paid = await orders_client.post(f"{order_path}/pay", headers=alice)
    assert paid.status_code == 200
    assert renderings == {"model_validate": 1, "model_dump_json": 1}

    # The feed shows an event once no transaction still running could commit an earlier one.
    events = await events_about(orders_client, admin, placed.json(), count=3)
    payloads = {event["type"]: event["data"] for event in events}
    for kind, answer in (
        ("order.placed", placed),
        ("order.changed", changed),
        ("order.paid", paid),
    ):
        assert payloads[kind] == json.loads(answer.content)
