"""The scale benchmark: for each size, a database loaded with that many orders and the order
service on it; then each operation measured at every size in turn, in rounds, back to back,
so that whatever else the machine is doing weighs on the sizes alike; then checkout beside
the keys' clean-up at each size."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.scale.cleanup import checkout_during_cleanup
from bench.scale.load import Shape, load
from bench.scale.measure import measure_at_sizes
from bench.scale.operations import Operation, find_targets, operations
from bench.scale.service import Tokens, published_keys, running_order_service, scratch_database

# What the clean-up's checkout sends: orders with keys, which the clean-up's table serves.
CHECKOUT = "POST /orders (Idempotency-Key)"


@dataclass(frozen=True)
class Settings:
    admin_dsn: str
    sizes: list[int]
    seconds: float
    rounds: int
    warmup: float
    connections: int
    cleanup_keys: int
    settle: float


@dataclass(frozen=True)
class Prepared:
    """One size, loaded, with its service running."""

    size: int
    dsn: str
    shape: Shape
    load_seconds: float
    operations: list[Operation]


def _prepare(
    settings: Settings,
    size: int,
    tokens: Tokens,
    jwks_url: str,
    stack: ExitStack,
    say: Callable[[str], None],
) -> Prepared:
    dsn = stack.enter_context(scratch_database(settings.admin_dsn, str(size)))
    started = time.monotonic()
    shape = asyncio.run(load(dsn, size, progress=lambda text: say(f"  {size}: {text}")))
    load_seconds = time.monotonic() - started
    say(f"  {size}: loaded in {load_seconds:.0f} s")
    targets = asyncio.run(find_targets(dsn, shape))
    log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    base_url = stack.enter_context(running_order_service(dsn, jwks_url, log_dir))
    return Prepared(size, dsn, shape, load_seconds, operations(base_url, targets, tokens))


def run(settings: Settings, say: Callable[[str], None] = print) -> list[dict[str, Any]]:
    tokens = Tokens.new()
    with published_keys(tokens) as jwks_url, ExitStack() as stack:
        prepared = [
            _prepare(settings, size, tokens, jwks_url, stack, say) for size in settings.sizes
        ]
        measured: dict[int, dict[str, Any]] = {each.size: {} for each in prepared}
        for index in range(len(prepared[0].operations)):
            results = measure_at_sizes(
                [(each.operations[index], each.dsn) for each in prepared],
                seconds=settings.seconds,
                warmup=settings.warmup,
                connections=settings.connections,
                rounds=settings.rounds,
                settle=settings.settle,
            )
            for each, result in zip(prepared, results, strict=True):
                operation = each.operations[index]
                measured[each.size][operation.name] = {
                    "is_write": operation.is_write,
                    **result.as_dict(),
                }
                say(f"  {each.size}: {operation.name}: {result.as_dict()}")
        sizes = []
        for each in prepared:
            checkout = next(op for op in each.operations if op.name == CHECKOUT)
            cleanup = checkout_during_cleanup(
                checkout,
                each.dsn,
                each.shape,
                expired_keys=settings.cleanup_keys,
                # Without the clean-up, as long as an operation's rounds at a size.
                seconds=settings.seconds * settings.rounds,
                connections=settings.connections,
            )
            say(f"  {each.size}: clean-up: {cleanup}")
            sizes.append(
                {
                    "orders": each.size,
                    "products": each.shape.products,
                    "users": each.shape.users,
                    "heavy_user_orders": each.shape.heavy_orders,
                    "load_seconds": round(each.load_seconds, 1),
                    "operations": measured[each.size],
                    "checkout_during_cleanup": cleanup,
                }
            )
    return sizes
