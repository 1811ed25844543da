"""A year of a shop's orders, loaded straight into a migrated order service database with
`generate_series`, as the service would have written them: products, orders with two lines
each at their products' prices, each order's events as one write (its `order.placed` event
carrying the order as the API showed it, then each product's `product.stock_changed`), the
last day's idempotency keys, ids that are UUIDv7 of their creation time.

The stock events are small, and fill what a placed event leaves free at the end of a page, as
the service's own writes do. Loaded without them, nearly every page of events kept some 500
bytes free, which the vacuum after the load recorded: every new order's stock events then
went into a page a year old, read from disk and written whole into the WAL after each
checkpoint (at 3M orders, 3 of each an order and 30 KB of WAL against 5 KB), which the
service's own history never leaves behind.

The data is skewed the way listings are hurt by: one heavy user owns a share of the orders,
the newer half of them all pending and one in five of the older half paid, so that "this
user's paid orders" lies behind thousands of newer rows of another status.

Events get horizons (`store/events.py`) that grow with their time, all below the oldest
transaction running, as a year of transactions would have left them: settled, and spread.

Left out, for the loading time: the later events of an order (paid, shipped, ...). Orders
carry the version their status implies all the same; the products' versions and stock in
their events are approximate.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

# A year of orders, ending now; products are added over the year before the first order.
SPAN = timedelta(days=365)
CHUNK = 200_000
HEAVY_USER_ID = uuid.UUID("00000000-0000-4000-8000-00000000beef")
# The heavy user owns every 20th order (150,000 of 3M).
HEAVY_STRIDE = 20

# UUIDv7 (RFC 9562) of a time, its random bits drawn from a salt: the same row gets the same id.
_UUID7_AT = """
CREATE FUNCTION pg_temp.uuid7_at(at timestamptz, salt text) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
SELECT encode(set_byte(set_byte(b, 6, (get_byte(b, 6) & 15) | 112), 8,
                       (get_byte(b, 8) & 63) | 128), 'hex')::uuid
FROM (SELECT substring(int8send(floor(extract(epoch FROM at) * 1000)::bigint) FROM 3 FOR 6)
             || substring(decode(md5(salt), 'hex') FROM 1 FOR 10) AS b) AS bytes
$$
"""
# As pydantic writes a UTC time in JSON.
_JSON_TIME = """
CREATE FUNCTION pg_temp.json_time(at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$
"""


@dataclass(frozen=True)
class Shape:
    """How many of each, and where in time."""

    orders: int
    now: datetime

    @property
    def products(self) -> int:
        return max(1000, self.orders // 10)

    @property
    def users(self) -> int:
        return max(10, self.orders // 20)

    @property
    def heavy_orders(self) -> int:
        """The heavy user's share: every `heavy_stride`-th order."""
        return self.orders // self.heavy_stride

    @property
    def heavy_stride(self) -> int:
        """The same share at every size, so that sizes differ in their number of rows only:
        the heavy user's orders lie as far apart in the table at 10k orders as at 3M."""
        return HEAVY_STRIDE

    @property
    def first_order_at(self) -> datetime:
        return self.now - SPAN


def user_id(index: int) -> uuid.UUID:
    """The id the loader gives user `index` (as `_ORDER_ROWS` makes it)."""
    return uuid.UUID(hashlib.md5(f"scale-user-{index}".encode()).hexdigest())  # noqa: S324


# Per order `i` (0 = oldest): its time, owner, status, products and quantities. The heavy
# user owns every `stride`-th order: the newer half pending, one in five of the rest paid.
_ORDER_ROWS = """
SELECT i, at, is_heavy, owner, status,
       CASE status WHEN 'pending' THEN 1 WHEN 'paid' THEN 2 WHEN 'cancelled' THEN 2
                   WHEN 'shipped' THEN 3 ELSE 4 END AS version,
       pg_temp.uuid7_at(at, 'order-' || i) AS id,
       p1, p2, 1 + i % 3 AS q1, 1 + i % 2 AS q2,
       round((100 + p1 % 4900) / 100.0, 2) AS price1,
       round((100 + p2 % 4900) / 100.0, 2) AS price2
FROM (
  SELECT i, at, is_heavy,
         CASE WHEN is_heavy THEN $heavy::uuid
              ELSE md5('scale-user-' || ((i * 2654435761) % $users))::uuid END AS owner,
         CASE WHEN is_heavy THEN
                CASE WHEN i < $orders / 2 AND (i / $stride) % 5 = 0 THEN 'paid'
                     ELSE 'pending' END
              ELSE (ARRAY['delivered','delivered','delivered','delivered','delivered',
                          'delivered','delivered','delivered','delivered','delivered',
                          'delivered','delivered','shipped','shipped','paid','paid',
                          'pending','pending','pending','cancelled'])[1 + (i * 7) % 20]
         END AS status,
         (i * 7919) % $products AS p1,
         ((i * 7919) + 1 + i % 13) % $products AS p2
  FROM (SELECT i, $first_at::timestamptz + (i * $step::float8) * interval '1 second' AS at,
               i % $stride = 0 AS is_heavy
        FROM generate_series($from::bigint, $to::bigint) AS i) AS timed
) AS owned
"""

_PRODUCT_AT = "$products_at::timestamptz + ({j} * $product_step::float8) * interval '1 second'"


def _product(j: str) -> dict[str, str]:
    """Product number `j`'s id, SKU and name, as `_PRODUCTS_SQL` made them."""
    at = _PRODUCT_AT.format(j=j)
    return {
        "id": f"pg_temp.uuid7_at({at}, 'product-' || {j})",
        "sku": f"'SKU-' || {j}",
        "name": f"'Product ' || {j}",
    }


def _stock_changed(product: dict[str, str], j: str, quantity: str, price: str, k: int) -> str:
    """The `product.stock_changed` event of an order's line `k`: the product as it was after
    the order took its quantity (its stock and version approximate: every order before took
    the same)."""
    at = _PRODUCT_AT.format(j=j)
    return f"""SELECT i, {k}, at, 'product.stock_changed', 'product', {product["id"]},
         (2 + i / $products)::int, NULL::uuid,
         json_build_object(
           'id', {product["id"]}, 'sku', {product["sku"]}, 'name', {product["name"]},
           'price', {price}::text, 'stock', 1000000000 - {quantity} * (1 + i / $products),
           'created_at', pg_temp.json_time({at}), 'updated_at', pg_temp.json_time(at))
  FROM o"""  # noqa: S608 - our own fragments and numbers, nothing from outside


def _orders_chunk_sql() -> str:
    p1, p2 = _product("p1"), _product("p2")
    return f"""
WITH o AS ({_ORDER_ROWS}),
placed AS (
  INSERT INTO orders (id, user_id, status, total, currency, version, created_at, updated_at)
  SELECT id, owner, status, q1 * price1 + q2 * price2, 'USD', version, at, at FROM o
),
lines AS (
  INSERT INTO order_lines (order_id, position, product_id, sku, name, quantity, unit_price,
                           line_total)
  SELECT id, 0, {p1["id"]}, {p1["sku"]}, {p1["name"]}, q1, price1, q1 * price1 FROM o
  UNION ALL
  SELECT id, 1, {p2["id"]}, {p2["sku"]}, {p2["name"]}, q2, price2, q2 * price2 FROM o
)
INSERT INTO events (xid_horizon, id, type, occurred_at, aggregate_type, aggregate_id,
                    aggregate_version, user_id, data)
SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1) * i / $orders,
       pg_temp.uuid7_at(at, 'event-' || i || '-' || k), type, at, aggregate_type,
       aggregate_id, aggregate_version, user_id, data
FROM (
  SELECT i, 0 AS k, at, 'order.placed' AS type, 'order' AS aggregate_type, id AS aggregate_id,
         1 AS aggregate_version, owner AS user_id,
         json_build_object(
           'id', id, 'user_id', owner, 'status', 'pending',
           'items', json_build_array(
             json_build_object('product_id', {p1["id"]}, 'sku', {p1["sku"]},
                               'name', {p1["name"]}, 'quantity', q1,
                               'unit_price', price1::text, 'line_total', (q1 * price1)::text),
             json_build_object('product_id', {p2["id"]}, 'sku', {p2["sku"]},
                               'name', {p2["name"]}, 'quantity', q2,
                               'unit_price', price2::text, 'line_total', (q2 * price2)::text)),
           'total', (q1 * price1 + q2 * price2)::text, 'currency', 'USD', 'version', 1,
           'created_at', pg_temp.json_time(at), 'updated_at', pg_temp.json_time(at)) AS data
  FROM o
  UNION ALL
  {_stock_changed(p1, "p1", "q1", "price1", 1)}
  UNION ALL
  {_stock_changed(p2, "p2", "q2", "price2", 2)}
) AS written
ORDER BY i, k
"""  # noqa: S608 - our own fragments and numbers, nothing from outside


_PRODUCTS_SQL = f"""
INSERT INTO products (id, sku, name, price, stock, created_at, updated_at, version)
SELECT {_product("j")["id"]}, 'SKU-' || j, 'Product ' || j,
       round((100 + j % 4900) / 100.0, 2), 1000000000,
       {_PRODUCT_AT.format(j="j")}, {_PRODUCT_AT.format(j="j")}, 1
FROM generate_series(0, $products - 1) AS j
"""  # noqa: S608 - our own fragments

# The keys clients sent in the last day (older ones were deleted by the hourly clean-up):
# every third order of that day.
_KEYS_SQL = f"""
INSERT INTO idempotency_keys (user_id, key, request_fingerprint, order_id, created_at,
                              expires_at)
SELECT owner, 'key-' || i, encode(sha256(('order-' || i)::bytea), 'hex'), id, at,
       at + interval '1 day'
FROM ({_ORDER_ROWS}) AS o
WHERE i % 3 = 0
ON CONFLICT DO NOTHING
"""  # noqa: S608 - our own fragments

# Keys past their time, as a clean-up that was down for a while finds them.
_EXPIRED_KEYS_SQL = """
INSERT INTO idempotency_keys (user_id, key, request_fingerprint, order_id, created_at,
                              expires_at)
SELECT md5('scale-user-' || (k % $users))::uuid, 'expired-' || k,
       encode(sha256(('expired-' || k)::bytea), 'hex'),
       md5('order-of-expired-' || k)::uuid,
       $now::timestamptz - interval '2 days', $now::timestamptz - interval '1 day'
FROM generate_series($from::bigint, $to::bigint) AS k
"""


def _render(sql: str, values: dict[str, object]) -> str:
    """`sql` with its `$name`s spelled out: numbers, and times and ids quoted (all ours)."""
    for name in sorted(values, key=len, reverse=True):
        value = values[name]
        literal = f"'{value}'" if isinstance(value, datetime | uuid.UUID) else str(value)
        sql = sql.replace(f"${name}", literal)
    return sql


def _values(shape: Shape, first: int, last: int) -> dict[str, object]:
    span = SPAN.total_seconds()
    return {
        "heavy": HEAVY_USER_ID,
        "users": shape.users,
        "orders": shape.orders,
        "products": shape.products,
        "stride": shape.heavy_stride,
        "first_at": shape.first_order_at,
        "step": span / shape.orders,
        "products_at": shape.first_order_at - SPAN,
        "product_step": span / shape.products,
        "from": first,
        "to": last,
        "now": shape.now,
    }


async def _functions(connection: asyncpg.Connection) -> None:
    await connection.execute(_UUID7_AT)
    await connection.execute(_JSON_TIME)


async def load(dsn: str, orders: int, *, progress: Callable[[str], None] = lambda _: None) -> Shape:
    """Fill the (migrated, empty) database at `dsn` with `orders` orders and all that goes
    with them, then VACUUM ANALYZE it."""
    shape = Shape(orders=orders, now=datetime.now(UTC))
    connection = await asyncpg.connect(dsn)
    try:
        await _functions(connection)
        await connection.execute(_render(_PRODUCTS_SQL, _values(shape, 0, 0)))
        progress(f"{shape.products} products")
        for first in range(0, orders, CHUNK):
            last = min(first + CHUNK, orders) - 1
            await connection.execute(_render(_orders_chunk_sql(), _values(shape, first, last)))
            progress(f"{last + 1} of {orders} orders")
        last_day = max(0, orders - int(orders * timedelta(days=1) / SPAN) - 1)
        await connection.execute(_render(_KEYS_SQL, _values(shape, last_day, orders - 1)))
        await connection.execute("VACUUM ANALYZE")
        progress("vacuumed and analysed")
    finally:
        await connection.close()
    return shape


async def add_expired_keys(dsn: str, shape: Shape, count: int) -> None:
    """`count` keys that expired a day ago, as a clean-up finds them after a long outage."""
    connection = await asyncpg.connect(dsn)
    try:
        for first in range(0, count, CHUNK):
            last = min(first + CHUNK, count) - 1
            await connection.execute(_render(_EXPIRED_KEYS_SQL, _values(shape, first, last)))
        await connection.execute("VACUUM ANALYZE idempotency_keys")
    finally:
        await connection.close()
