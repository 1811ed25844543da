"""The scale benchmark: for each size, a database loaded with that many orders, the order
service on it, every operation measured, then checkout beside the keys' clean-up."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.scale.cleanup import checkout_during_cleanup
from bench.scale.load import load
from bench.scale.measure import measure
from bench.scale.operations import find_targets, operations
from bench.scale.service import Tokens, published_keys, running_order_service, scratch_database


@dataclass(frozen=True)
class Settings:
    admin_dsn: str
    sizes: list[int]
    seconds: float
    warmup: float
    connections: int
    cleanup_keys: int
    settle: float


def measure_size(
    settings: Settings, size: int, tokens: Tokens, jwks_url: str, say: Callable[[str], None]
) -> dict[str, Any]:
    with scratch_database(settings.admin_dsn, str(size)) as dsn:
        started = time.monotonic()
        shape = asyncio.run(load(dsn, size, progress=lambda text: say(f"  {size}: {text}")))
        loaded_in = time.monotonic() - started
        say(f"  {size}: loaded in {loaded_in:.0f} s")
        targets = asyncio.run(find_targets(dsn, shape))
        with (
            tempfile.TemporaryDirectory() as log_dir,
            running_order_service(dsn, jwks_url, Path(log_dir)) as base_url,
        ):
            measured: dict[str, Any] = {}
            for operation in operations(base_url, targets, tokens):
                result = measure(
                    operation,
                    dsn,
                    seconds=settings.seconds,
                    warmup=settings.warmup,
                    connections=settings.connections,
                    settle=settings.settle,
                )
                measured[operation.name] = {"is_write": operation.is_write, **result.as_dict()}
                say(f"  {size}: {operation.name}: {result.as_dict()}")
            checkout = next(
                operation
                for operation in operations(base_url, targets, tokens)
                if operation.name == "POST /orders (Idempotency-Key)"
            )
            cleanup = checkout_during_cleanup(
                checkout,
                dsn,
                shape,
                expired_keys=settings.cleanup_keys,
                seconds=settings.seconds,
                connections=settings.connections,
            )
            say(f"  {size}: clean-up: {cleanup}")
        return {
            "orders": size,
            "products": shape.products,
            "users": shape.users,
            "heavy_user_orders": shape.heavy_orders,
            "load_seconds": round(loaded_in, 1),
            "operations": measured,
            "checkout_during_cleanup": cleanup,
        }


def run(settings: Settings, say: Callable[[str], None] = print) -> list[dict[str, Any]]:
    tokens = Tokens.new()
    with published_keys(tokens) as jwks_url:
        sizes = []
        for size in settings.sizes:
            say(f"{size} orders")
            sizes.append(measure_size(settings, size, tokens, jwks_url, say))
    return sizes
