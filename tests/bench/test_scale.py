"""`python -m bench.scale` end to end at small sizes: both databases loaded, the service run
on each, every operation measured without an error, the clean-up run beside checkout, and
the comparison written. (What the numbers are is the benchmark's job.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scale.report import compare
from tests.support.postgres import Databases

OPERATIONS = {
    "GET /orders/{id}",
    "GET /orders (page 1)",
    "GET /orders (deep page)",
    "GET /orders?status=paid (heavy user)",
    "GET /orders?user_id=&status= (admin)",
    "GET /products",
    "POST /orders",
    "POST /orders (Idempotency-Key)",
    "PATCH /orders/{id}",
}


# Two loads, two service starts and nine operations' two short rounds at each size: two
# minutes on a busy machine.
@pytest.mark.timeout(300)
def test_a_short_run_at_two_small_sizes_measures_everything_and_compares(
    databases: Databases, tmp_path: Path
) -> None:
    admin_url = databases.admin_url.render_as_string(hide_password=False)
    run = subprocess.run(
        [
            sys.executable, "-m", "bench.scale",
            "--sizes", "2000,20000", "--seconds", "1", "--rounds", "2", "--warmup", "0",
            "--settle", "0.5",
            "--connections", "2", "--cleanup-keys", "5000",
            "--database-url", admin_url, "--results-dir", str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((tmp_path / "latest.json").read_text())
    assert [size["orders"] for size in results["sizes"]] == [2000, 20000]
    for size in results["sizes"]:
        assert set(size["operations"]) == OPERATIONS
        for name, measured in size["operations"].items():
            assert measured["requests"] > 0, name
            assert measured["errors"] == 0, name
            # Each size ran each round; its latency is the median round's.
            assert len(measured["rounds_p50_ms"]) == 2, name
            assert min(measured["rounds_p50_ms"]) <= measured["p50_ms"], name
            assert measured["p50_ms"] <= max(measured["rounds_p50_ms"]), name
            if not measured["is_write"]:
                # A page of 21 orders (each on its own page) and, for each, its lines through
                # their index (three or four buffers each time), or one order: bounded.
                assert 0 < measured["plan_buffers"] < 200, name
                # Every read goes down an index, at least once, of a known height.
                assert measured["index_descents"], name
                assert set(measured["index_levels"]) == set(measured["index_descents"]), name
        cleanup = size["checkout_during_cleanup"]
        assert cleanup["cleanup"]["failed"] is False
        assert cleanup["cleanup"]["expired_keys_left"] == 0
        assert cleanup["pace"] == {"batch_size": 1000, "database_share": 0.25}
        assert 0 < cleanup["cleanup"]["batch_seconds"] <= cleanup["cleanup"]["seconds"]
        assert cleanup["during"]["errors"] == 0
        # Checkout ran for the clean-up's whole run (a second at least), not a set time.
        assert cleanup["during"]["seconds"] >= min(1.0, cleanup["cleanup"]["seconds"])
    assert set(results["comparison"]["operations"]) == OPERATIONS
    report = (tmp_path / "latest.md").read_text()
    assert "| operation | p50 2,000 | p50 20,000 |" in report
    assert "deletes 1,000 keys a transaction" in report


def _size(
    orders: int,
    *,
    p50: float,
    buffers: float,
    failed: bool = False,
    descents: dict[str, float] | None = None,
    levels: dict[str, int] | None = None,
) -> dict[str, object]:
    measured = {"errors": 0, "p50_ms": p50, "p99_ms": p50 * 3, "buffers_hit": 0.0}
    read: dict[str, object] = {"is_write": False, "buffers_read": 0, "plan_buffers": buffers}
    if descents is not None:
        read |= {"index_descents": descents, "index_levels": levels}
    return {
        "orders": orders,
        "operations": {
            "read": {**measured, **read},
            "write": {**measured, "is_write": True, "buffers_read": 0, "plan_buffers": None},
        },
        "checkout_during_cleanup": {
            "p99_ratio": 1.2,
            "cleanup": {"failed": failed, "expired_keys_left": 0},
        },
    }


def test_reads_within_1_3_and_writes_within_1_15_meet_their_targets() -> None:
    comparison = compare(
        [_size(10_000, p50=10, buffers=20), _size(3_000_000, p50=11.4, buffers=22)]
    )

    assert comparison["operations"]["read"]["met"] is True
    assert comparison["operations"]["write"]["met"] is True
    assert comparison["all_met"] is True


def test_a_slower_write_a_read_touching_more_buffers_or_a_failed_cleanup_miss() -> None:
    comparison = compare(
        [_size(10_000, p50=10, buffers=20), _size(3_000_000, p50=12, buffers=40, failed=True)]
    )

    assert comparison["operations"]["read"]["latency_met"] is True  # 1.2× the latency
    assert comparison["operations"]["read"]["buffers_met"] is False  # 2× the buffers
    assert comparison["operations"]["read"]["met"] is False
    assert comparison["operations"]["write"]["met"] is False  # 1.2× the latency
    assert comparison["cleanup"]["met"] is False
    assert comparison["all_met"] is False


def test_a_read_may_touch_a_buffer_more_per_descent_for_each_level_its_index_gained() -> None:
    # A page of products: one descent into an index that gained a level (2 -> 3 levels).
    one_descent = {"ix_products_created_at_id": 1.0}
    small = _size(
        10_000, p50=5, buffers=3, descents=one_descent, levels={"ix_products_created_at_id": 1}
    )
    large = _size(
        3_000_000, p50=5, buffers=5, descents=one_descent, levels={"ix_products_created_at_id": 2}
    )

    read = compare([small, large])["operations"]["read"]

    # 1.67× the buffers, but 3 + 1 descent × 1 level + 1 heap page: bounded.
    assert (read["buffers_ratio"], read["buffers_allowed"]) == (1.667, 5.0)
    assert read["buffers_met"] is True


def test_a_read_that_walks_rows_it_discards_misses_however_its_indexes_grew() -> None:
    # The same descents and levels, but twice the buffers: rows read and thrown away.
    one_descent = {"ix_orders_created_at_id": 1.0}
    small = _size(
        10_000, p50=5, buffers=20, descents=one_descent, levels={"ix_orders_created_at_id": 1}
    )
    large = _size(
        3_000_000, p50=5, buffers=40, descents=one_descent, levels={"ix_orders_created_at_id": 2}
    )

    read = compare([small, large])["operations"]["read"]

    assert read["buffers_allowed"] == 22.0
    assert read["buffers_met"] is False
    assert read["met"] is False


def test_a_page_looking_up_each_rows_lines_may_grow_by_a_buffer_per_lookup() -> None:
    # 21 orders from one index, each one's lines through another: 22 descents a level deeper.
    descents = {"ix_orders_created_at_id": 1.0, "ix_order_items_order_id": 21.0}
    small = _size(10_000, p50=8, buffers=104, descents=descents, levels=dict.fromkeys(descents, 1))
    large = _size(
        3_000_000, p50=8, buffers=126, descents=descents, levels=dict.fromkeys(descents, 2)
    )
    walking = _size(
        3_000_000, p50=8, buffers=160, descents=descents, levels=dict.fromkeys(descents, 2)
    )

    assert compare([small, large])["operations"]["read"]["buffers_met"] is True
    assert compare([small, walking])["operations"]["read"]["buffers_met"] is False
