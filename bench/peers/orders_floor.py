"""The order service's floor: `GET /orders/{id}` and `POST /orders` (with and without an
`Idempotency-Key`) in a bare Starlette app on an asyncpg pool, running the service's own
statements as SQLAlchemy compiled them (`order_service.store`), answering the same JSON, and
knowing its one bearer token from a dict, as the service's verified-token cache would. About
the least the service's stack can spend on these requests; `tests/bench` keeps it honest.
It refuses what the service refuses with the same status, but with no body: the benchmark
sends nothing it would refuse.

Served with `uvicorn --factory bench.peers.orders_floor:app_from_environment`:
`BENCH_DATABASE_URL` (the order service's database, `postgresql://…`), `BENCH_TOKEN` and
`BENCH_USER_ID` (whose token it is).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from order_service.idempotency import order_fingerprint
from order_service.records import Requested
from order_service.store.events import INSERT_EVENTS
from order_service.store.idempotency_keys import CLAIM_KEY, READ_KEY
from order_service.store.orders import INSERT_LINES, INSERT_ORDER, READ_ORDER
from order_service.store.sql import JsonText, Query
from order_service.store.stock import TAKE_STOCK
from shared.identifiers import uuid7

_NOT_STORED = {"Cache-Control": "no-store"}
_KEY = re.compile(r'(?:[\x21\x23-\x5b\x5d-\x7e]{1,255}|"[\x20\x21\x23-\x5b\x5d-\x7e]{1,255}")')
_KEY_TTL = timedelta(seconds=86_400)  # the service's default
_CLAIM = CLAIM_KEY["postgresql"]
_CENT = Decimal("0.01")
_ORDER_KEYS = (
    "id", "user_id", "status", "items", "total", "currency", "version", "created_at", "updated_at"
)  # fmt: skip
_ITEM_KEYS = ("product_id", "sku", "name", "quantity", "unit_price", "line_total")


class _Refused(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


def _run(query: Query, params: Mapping[str, Any]) -> tuple[Any, ...]:
    return (query.sql, *query.args(params))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _order(order: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> str:
    """An order as the service answers it (and writes it in its `order.placed` event)."""
    items = [
        {
            "product_id": str(line["product_id"]), "sku": line["sku"], "name": line["name"],
            "quantity": line["quantity"], "unit_price": _money(line["unit_price"]),
            "line_total": _money(line["line_total"]),
        }
        for line in lines
    ]  # fmt: skip
    return json.dumps({
        "id": str(order["id"]), "user_id": str(order["user_id"]), "status": order["status"],
        "items": items, "total": _money(order["total"]), "currency": order["currency"],
        "version": order["version"], "created_at": _iso(order["created_at"]),
        "updated_at": _iso(order["updated_at"]),
    }, separators=(",", ":"), ensure_ascii=False)  # fmt: skip


def _product(row: Mapping[str, Any]) -> str:
    return json.dumps({
        "id": str(row["id"]), "sku": row["sku"], "name": row["name"],
        "price": _money(row["price"]), "stock": row["stock"],
        "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"]),
    }, separators=(",", ":"), ensure_ascii=False)  # fmt: skip


def _event(kind: str, aggregate: str, row: Mapping[str, Any], data: str) -> dict[str, Any]:
    return {
        "id": uuid7(), "type": kind, "occurred_at": row["updated_at"],
        "aggregate_type": aggregate, "aggregate_id": row["id"],
        "aggregate_version": row["version"], "user_id": row.get("user_id"),
        "data": JsonText(data),
    }  # fmt: skip


def _line(order_id: uuid.UUID, position: int, line: Requested, product: Any) -> dict[str, Any]:
    price = product["price"]
    return {
        "order_id": order_id, "position": position, "product_id": line.product_id,
        "sku": product["sku"], "name": product["name"], "quantity": line.quantity,
        "unit_price": price, "line_total": (price * line.quantity).quantize(_CENT),
    }  # fmt: skip


async def _place(
    db: Any, user_id: uuid.UUID, requested: Sequence[Requested], order_id: uuid.UUID
) -> dict[str, Any]:
    """`order_service.orders.place`: the stock, the order, its lines, its events."""
    now = datetime.now(UTC)
    products: dict[uuid.UUID, Any] = {}
    for line in sorted(requested, key=lambda line: line.product_id):
        taken = {"taken_id": line.product_id, "at_least": line.quantity, "taken": line.quantity}
        row = await db.fetchrow(*_run(TAKE_STOCK, {**taken, "changed_at": now}))
        if row is None:
            raise _Refused(409)
        products[line.product_id] = row
    lines = [
        _line(order_id, position, line, products[line.product_id])
        for position, line in enumerate(requested)
    ]
    order = {
        "id": order_id, "user_id": user_id, "status": "pending", "currency": "USD", "version": 1,
        "total": sum((line["line_total"] for line in lines), Decimal("0.00")),
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    await db.execute(*_run(INSERT_ORDER, order))
    await db.execute(*_run(INSERT_LINES.for_rows(len(lines)), INSERT_LINES.parameters(lines)))
    body = _order(order, lines)
    events = [_event("order.placed", "order", order, body)]
    for product in products.values():
        kinds = ["product.stock_changed", "product.out_of_stock"][: 1 + (product["stock"] == 0)]
        events += [_event(kind, "product", product, _product(product)) for kind in kinds]
    await db.execute(*_run(INSERT_EVENTS.for_rows(len(events)), INSERT_EVENTS.parameters(events)))
    return _created(order_id, body)


def _created(order_id: uuid.UUID, body: str) -> dict[str, Any]:
    headers = {"Location": f"/orders/{order_id}", "ETag": '"1"'}
    return {"status_code": 201, "headers": headers, "body": body}


def _as_placed(event_data: str) -> str:
    """The order of an `order.placed` event (Postgres keeps JSON's keys in an order of its
    own), as it was answered."""
    data = json.loads(event_data)
    order = {key: data[key] for key in _ORDER_KEYS}
    order["items"] = [{key: item[key] for key in _ITEM_KEYS} for item in data["items"]]
    return json.dumps(order, separators=(",", ":"), ensure_ascii=False)


async def _place_once(
    db: Any, user_id: uuid.UUID, requested: Sequence[Requested], key: str
) -> tuple[dict[str, Any], bool]:
    """`order_service.idempotency.place_order_once`, in the caller's transaction."""
    fingerprint = order_fingerprint(requested)
    for _ in range(3):
        now, order_id = datetime.now(UTC), uuid7()
        claim = {"user_id": user_id, "key": key, "fingerprint": fingerprint, "now": now}
        claim |= {"order_id": order_id, "expires_at": now + _KEY_TTL}
        if await db.fetchval(*_run(_CLAIM, claim)) is not None:
            return await _place(db, user_id, requested, order_id), False
        stored = await db.fetchrow(*_run(READ_KEY, {"user_id": user_id, "key": key}))
        if stored is not None:
            if stored["request_fingerprint"] != fingerprint:
                raise _Refused(422)
            return _created(stored["order_id"], _as_placed(stored["data"])), True
    raise RuntimeError(f"idempotency key {key!r} could not be claimed or read")


def _requested(body: bytes) -> list[Requested]:
    """The lines, checked as `order_service.schemas.OrderLinesIn` checks them."""
    try:
        items = json.loads(body)["items"]
        requested = [Requested(uuid.UUID(item["product_id"]), item["quantity"]) for item in items]
    except (ValueError, KeyError, TypeError) as error:
        raise _Refused(422) from error
    products = {line.product_id for line in requested}
    quantities = all(type(line.quantity) is int and 0 < line.quantity <= 1000 for line in requested)
    if not (quantities and 0 < len(requested) <= 100 and len(products) == len(requested)):
        raise _Refused(422)
    return requested


def _user_of(request: Request) -> uuid.UUID:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    user_id = request.state.tokens.get(token) if scheme.lower() == "bearer" else None
    if user_id is None:
        raise _Refused(401)
    return user_id  # type: ignore[no-any-return]


async def show_order(request: Request) -> Response:
    try:
        user_id = _user_of(request)
        order_id = uuid.UUID(request.path_params["order_id"])
    except (_Refused, ValueError) as error:
        return Response(status_code=getattr(error, "status", 422))
    rows = await request.state.pool.fetch(*_run(READ_ORDER, {"order_id": order_id}))
    if not rows or rows[0]["user_id"] != user_id:
        return Response(status_code=404)
    lines = [row for row in rows if row["product_id"] is not None]
    headers = {"ETag": f'"{rows[0]["version"]}"', **_NOT_STORED}
    return Response(_order(rows[0], lines), headers=headers, media_type="application/json")


async def create_order(request: Request) -> Response:
    key = request.headers.get("idempotency-key")
    try:
        user_id = _user_of(request)
        requested = _requested(await request.body())
        if key is not None and not _KEY.fullmatch(key):
            raise _Refused(422)
        async with request.state.pool.acquire() as db, db.transaction():
            if key is None:
                response, is_replay = await _place(db, user_id, requested, uuid7()), False
            else:
                response, is_replay = await _place_once(db, user_id, requested, key.strip('"'))
    except _Refused as refused:
        return Response(status_code=refused.status)
    headers = {**response["headers"], **_NOT_STORED}
    if is_replay:
        headers["Idempotent-Replayed"] = "true"
    return Response(
        response["body"], response["status_code"], headers, media_type="application/json"
    )


def create_app(database_url: str, tokens: Mapping[str, uuid.UUID]) -> Starlette:
    """The floor on `database_url`, knowing the users of `tokens` (token: user id)."""

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        # The service's timeouts; no reset query when a connection goes back to the pool
        # (nothing a request does outlives its transaction).
        async with asyncpg.create_pool(
            database_url, min_size=1, max_size=10, timeout=5, command_timeout=5,
            server_settings={"statement_timeout": "5000"}, reset=_nothing_to_reset,
        ) as pool:  # fmt: skip
            yield {"pool": pool, "tokens": tokens}

    routes = [
        Route("/orders/{order_id}", show_order, methods=["GET"]),
        Route("/orders", create_order, methods=["POST"]),
        # Answers once the pool is open (the lifespan has run): the benchmark waits for it.
        Route("/health/ready", _ready),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def _ready(_: Request) -> Response:
    return Response()


async def _nothing_to_reset(_: asyncpg.Connection) -> None:
    return None


def app_from_environment() -> Starlette:
    tokens = {os.environ["BENCH_TOKEN"]: uuid.UUID(os.environ["BENCH_USER_ID"])}
    return create_app(os.environ["BENCH_DATABASE_URL"], tokens)
