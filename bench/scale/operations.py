"""What is measured at each size: the API's reads and writes, each aimed at rows the load
made (many orders, the heavy user's listings, a deep page by cursor)."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from bench.scale.load import HEAVY_USER_ID, Shape, user_id
from bench.scale.load_generator import Requests
from bench.scale.service import Tokens
from order_service.orders import listing_scope
from order_service.store.orders import READ_ORDER, orders_page_statement
from order_service.store.products import PRODUCT_PAGES
from order_service.store.sql import Query
from shared.cursors import Cursor
from shared.tokens import Identity

# How many different orders and bodies a run goes round: enough that the orders' pages are
# not all in memory at the big size, and that writes seldom wait on each other's row locks.
SPREAD = 500
JSON = {"Content-Type": "application/json"}
# A page of the API's default size, and the one more row that tells whether there is a next.
ROWS_WANTED = 21
# How many of a read's statements are explained for its buffers (averaged).
EXPLAINED = 50


@dataclass(frozen=True)
class Operation:
    name: str
    is_write: bool
    requests: Requests
    # A read's statement as the service runs it, with the values of some of its requests:
    # `EXPLAIN (ANALYZE, BUFFERS)` of these says what one request reads.
    statements: list[tuple[Query, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class Targets:
    orders: list[uuid.UUID]
    pending_orders: list[uuid.UUID]
    products: list[uuid.UUID]
    heavy_deep: tuple[datetime, uuid.UUID]
    heavy_deep_cursor: str


async def find_targets(dsn: str, shape: Shape) -> Targets:
    """Orders spread over the whole table, pending ones (of users other than the heavy one),
    products, and a cursor halfway down the heavy user's orders."""
    sample = min(100.0, 100.0 * 20 * SPREAD / shape.orders)
    connection = await asyncpg.connect(dsn)
    try:
        orders = await connection.fetch(
            f"SELECT id FROM orders TABLESAMPLE BERNOULLI ({sample}) LIMIT {SPREAD}"  # noqa: S608
        )
        pending = await connection.fetch(
            f"SELECT id FROM orders TABLESAMPLE BERNOULLI ({sample})"  # noqa: S608
            f" WHERE status = 'pending' AND user_id <> $1 LIMIT {SPREAD}",
            HEAVY_USER_ID,
        )
        products = await connection.fetch(
            f"SELECT id FROM products TABLESAMPLE BERNOULLI (100) LIMIT {SPREAD}"  # noqa: S608
        )
        deep = await connection.fetchrow(
            "SELECT created_at, id FROM orders WHERE user_id = $1"
            " ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
            HEAVY_USER_ID,
            shape.heavy_orders // 2,
        )
    finally:
        await connection.close()
    scope = listing_scope(Identity(HEAVY_USER_ID, "user"), None, None)
    return Targets(
        orders=[row["id"] for row in orders],
        pending_orders=[row["id"] for row in pending],
        products=[row["id"] for row in products],
        heavy_deep=(deep["created_at"], deep["id"]),
        heavy_deep_cursor=Cursor(deep["created_at"], deep["id"]).encode(scope),
    )


def _order_bodies(products: list[uuid.UUID]) -> list[str]:
    """Two lines of two products, different ones for each body."""
    chooser = random.Random(19)  # noqa: S311 - a spread of products, not a secret
    return [
        json.dumps(
            {
                "items": [
                    {"product_id": str(product), "quantity": 1}
                    for product in chooser.sample(products, 2)
                ]
            }
        )
        for _ in range(SPREAD)
    ]


def operations(base_url: str, targets: Targets, tokens: Tokens) -> list[Operation]:
    heavy = tokens.bearer(HEAVY_USER_ID)
    admin = tokens.bearer(uuid.UUID(int=1), "admin")
    customer = tokens.bearer(user_id(1))
    bodies = _order_bodies(targets.products)

    def read(
        name: str,
        paths: list[str],
        headers: dict[str, str],
        statements: list[tuple[Query, dict[str, Any]]],
    ) -> Operation:
        return Operation(name, False, Requests(base_url, paths, headers=headers), statements)

    def page(is_one_status: bool, is_deep: bool) -> tuple[Query, dict[str, Any]]:
        parameters: dict[str, Any] = {
            "owner": HEAVY_USER_ID,
            "status": "paid" if is_one_status else None,
            "rows_wanted": ROWS_WANTED,
        }
        if is_deep:
            parameters["after_created_at"], parameters["after_id"] = targets.heavy_deep
        return orders_page_statement(True, is_one_status, is_deep), parameters

    return [
        read(
            "GET /orders/{id}",
            [f"/orders/{order}" for order in targets.orders],
            admin,
            [(READ_ORDER, {"order_id": order}) for order in targets.orders[:EXPLAINED]],
        ),
        read("GET /orders (page 1)", ["/orders"], heavy, [page(False, False)]),
        read(
            "GET /orders (deep page)",
            [f"/orders?cursor={targets.heavy_deep_cursor}"],
            heavy,
            [page(False, True)],
        ),
        read(
            "GET /orders?status=paid (heavy user)",
            ["/orders?status=paid"],
            heavy,
            [page(True, False)],
        ),
        read(
            "GET /orders?user_id=&status= (admin)",
            [f"/orders?user_id={HEAVY_USER_ID}&status=paid"],
            admin,
            [page(True, False)],
        ),
        read(
            "GET /products",
            ["/products"],
            customer,
            [(PRODUCT_PAGES[False], {"rows_wanted": ROWS_WANTED})],
        ),
        Operation(
            "POST /orders",
            True,
            Requests(base_url, ["/orders"], "POST", bodies=bodies, headers={**customer, **JSON}),
        ),
        Operation(
            "POST /orders (Idempotency-Key)",
            True,
            Requests(
                base_url,
                ["/orders"],
                "POST",
                bodies=bodies,
                headers={**customer, **JSON},
                unique_keys=True,
            ),
        ),
        Operation(
            "PATCH /orders/{id}",
            True,
            Requests(
                base_url,
                [f"/orders/{order}" for order in targets.pending_orders],
                "PATCH",
                bodies=bodies,
                headers={**admin, **JSON},
            ),
        ),
    ]
