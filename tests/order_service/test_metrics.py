from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.order_service.conftest import Catalogue, act, place_order


async def samples(client: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    text = (await client.get("/metrics")).text
    return {
        (sample.name, sample.labels.get("action", "")): sample.value
        for family in text_string_to_metric_families(text)
        if family.name in ("orders_created", "order_actions")
        for sample in family.samples
        if sample.name.endswith("_total")
    }


async def test_orders_created_and_their_actions_are_counted(
    catalogue: Catalogue, orders_client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    product = await catalogue.add(stock=10)
    keyed = {**alice, "Idempotency-Key": "once"}
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    order = (await orders_client.post("/orders", json=body, headers=keyed)).json()
    await orders_client.post("/orders", json=body, headers=keyed)  # a replay
    await place_order(orders_client, alice, (product, 1))
    await act(orders_client, alice, order, "pay")
    await act(orders_client, alice, order, "cancel")

    assert await samples(orders_client) == {
        ("orders_created_total", ""): 2,
        ("order_actions_total", "pay"): 1,
        ("order_actions_total", "cancel"): 1,
    }
