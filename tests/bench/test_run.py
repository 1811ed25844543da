"""`python -m bench` end to end, briefly: the stack, nginx, the peers and wrk all run, and
every scenario is measured without an error, the order service and its floor in two rounds.
(What the numbers are is the benchmark's job.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import Databases

# Debian puts nginx in /usr/sbin, which a user's PATH may lack.
_TOOLS_PATH = f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin"
pytestmark = pytest.mark.skipif(
    not (shutil.which("wrk") and shutil.which("nginx", path=_TOOLS_PATH)),
    reason="the benchmark needs wrk and nginx (make bench-tools installs them)",
)

SCENARIOS = {
    "orders_direct",
    "orders_via_gateway",
    "orders_via_nginx",
    "create_order_via_gateway",
    "login_via_gateway",
    "gateway_only",
    "naive_httpx_peer",
    "aiohttp_floor_peer",
    "orders_direct_traced",
    "gateway_only_traced",
    "orders_floor_get",
    "order_post_direct",
    "orders_floor_post",
    "order_post_idempotent_direct",
    "orders_floor_post_idempotent",
    "order_post_idempotent_via_gateway",
}
# Measured beside the floor in every round, as fast as each answers and at one pace.
UNPACED_PAIRS = {
    "orders_direct",
    "orders_floor_get",
    "order_post_direct",
    "orders_floor_post",
    "order_post_idempotent_direct",
    "orders_floor_post_idempotent",
}
PACED_PAIRS = {f"{name}_paced" for name in UNPACED_PAIRS}
# Each tracing twin beside its untraced one, in every round too.
TRACING_TWINS = {"orders_direct_traced", "gateway_only", "gateway_only_traced"}
IN_ROUNDS = UNPACED_PAIRS | PACED_PAIRS | TRACING_TWINS
# What talks to no database.
WITHOUT_POSTGRES = {"gateway_only", "gateway_only_traced", "naive_httpx_peer", "aiohttp_floor_peer"}


# The run starts the stack, nginx and the peers, and measures twenty-two scenarios, twelve of
# them twice: a minute or two on a loaded machine. Its own limit comes first (400 s), with its
# output.
@pytest.mark.timeout(460)
def test_a_short_run_measures_every_scenario_and_writes_its_results(
    databases: Databases, tmp_path: Path
) -> None:
    admin_url = databases.admin_url.render_as_string(hide_password=False)
    run = subprocess.run(
        [
            sys.executable, "-m", "bench",
            "--seconds", "1", "--paced-seconds", "1", "--warmup", "0",
            "--connections", "2", "--rounds", "2",
            "--database-url", admin_url,
            "--results-dir", str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((tmp_path / "latest.json").read_text())
    assert set(results["scenarios"]) == SCENARIOS | PACED_PAIRS
    for name, scenario in results["scenarios"].items():
        assert scenario["requests"] > 0, name
        assert scenario["errors"] == 0, name
        # Read, but not judged: the kernel counts CPU in 10 ms ticks, and on a busy machine a
        # one-second run may be charged none. What the numbers are is the benchmark's job.
        assert scenario["cpu_us_per_request"] >= 0, name
        assert ("postgres_cpu_us_per_request" in scenario) == (name not in WITHOUT_POSTGRES)
        assert len(scenario.get("cpu_us_per_request_by_round", [0, 0])) == 2, name
        assert ("pace_rps" in scenario) == (name in PACED_PAIRS), name
        assert scenario.get("connections", 1) == 1, name  # paced: one request at a time
    assert {
        name for name, scenario in results["scenarios"].items() if "_by_round" in str(scenario)
    } == IN_ROUNDS
    assert results["gateway_cpu_us_per_request"] >= 0
    assert set(results["ratios"]) == {
        "order_get_cpu_vs_floor",
        "order_post_cpu_vs_floor",
        "order_post_idempotent_cpu_vs_floor",
        "order_post_idempotent_vs_unkeyed_cpu",
        "order_get_pg_cpu_vs_floor",
        "order_post_pg_cpu_vs_floor",
        "order_post_idempotent_pg_cpu_vs_floor",
        "order_get_pg_cpu_vs_floor_unpaced",
        "order_post_pg_cpu_vs_floor_unpaced",
        "order_post_idempotent_pg_cpu_vs_floor_unpaced",
        "gateway_vs_direct",
        "gateway_vs_nginx",
        "gateway_only_vs_naive_httpx",
        "gateway_only_vs_aiohttp_floor",
        "gateway_cpu_vs_aiohttp_floor_cpu",
    }
    for service in ("auth", "orders", "gateway"):
        memory = results["memory_mib"][service]
        assert 0 < memory["idle"] <= memory["peak"]
    assert set(results["tracing"]["cost"]) == {"gateway", "orders"}
    assert results["tracing"]["spans_exported"] >= 0
    assert len(results["targets"]) == 17
    assert "| scenario | req/s |" in (tmp_path / "latest.md").read_text()
