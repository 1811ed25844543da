"""`python -m bench.protocol`: each protocol answers every request of the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("protocol", ["guarded", "uvicorn"])
def test_each_protocol_serves_the_requests_and_prints_their_cost(protocol: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.protocol", protocol, "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert run.stdout.startswith(f"{protocol}: ")
    assert run.stdout.rstrip().endswith("µs of CPU per request")
