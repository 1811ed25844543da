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


# Two loads, two service starts and nine short runs at each size: a minute on a busy machine.
@pytest.mark.timeout(300)
def test_a_short_run_at_two_small_sizes_measures_everything_and_compares(
    databases: Databases, tmp_path: Path
) -> None:
    admin_url = databases.admin_url.render_as_string(hide_password=False)
    run = subprocess.run(
        [
            sys.executable, "-m", "bench.scale",
            "--sizes", "2000,20000", "--seconds", "1", "--warmup", "0", "--settle", "0.5",
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
            if not measured["is_write"]:
                # A page of 21 orders (each on its own page) and, for each, its lines through
                # their index (three or four buffers each time), or one order: bounded.
                assert 0 < measured["plan_buffers"] < 200, name
        cleanup = size["checkout_during_cleanup"]
        assert cleanup["cleanup"]["failed"] is False
        assert cleanup["cleanup"]["expired_keys_left"] == 0
        assert cleanup["during"]["errors"] == 0
    assert set(results["comparison"]["operations"]) == OPERATIONS
    assert "| operation | p50 2,000 | p50 20,000 |" in (tmp_path / "latest.md").read_text()


def _size(orders: int, *, p50: float, buffers: float, failed: bool = False) -> dict[str, object]:
    measured = {"errors": 0, "p50_ms": p50, "p99_ms": p50 * 3, "buffers_hit": 0.0}
    return {
        "orders": orders,
        "operations": {
            "read": {**measured, "is_write": False, "buffers_read": 0, "plan_buffers": buffers},
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
