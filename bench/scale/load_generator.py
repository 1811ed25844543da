"""wrk with `requests.lua`: `bench/wrk.py`'s request and result, going round several paths
and, for keyed orders, a new Idempotency-Key per request."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.wrk import Measurement, parse_wrk_output

_BENCH = Path(__file__).resolve().parent.parent
_SCRIPT = Path(__file__).with_name("requests.lua")


@dataclass(frozen=True)
class Requests:
    """What to send, repeated by every connection as fast as it is answered."""

    base_url: str
    paths: Sequence[str]
    method: str = "GET"
    body: str = ""
    # Gone round, one per request, when given (else `body` every time).
    bodies: Sequence[str] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    unique_keys: bool = False


def run_requests(requests: Requests, *, seconds: float, connections: int) -> Measurement:
    """One bounded run of wrk (one thread: the cores are shared with what it measures)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("the benchmark needs wrk: `make bench-tools` installs it")
    env = {
        **os.environ,
        "BENCH_BASE_SCRIPT": str(_BENCH / "load.lua"),
        "BENCH_METHOD": requests.method,
        "BENCH_BODY": requests.body,
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in requests.headers.items()),
        "BENCH_PATHS": "\n".join(requests.paths),
        "BENCH_BODIES": "\n".join(requests.bodies),
        "BENCH_UNIQUE_KEYS": "1" if requests.unique_keys else "0",
    }
    command = [
        wrk,
        "--threads", "1",
        "--connections", str(connections),
        "--duration", f"{max(1, round(seconds))}s",
        "--timeout", "5s",
        "--script", str(_SCRIPT),
        requests.base_url + requests.paths[0],
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - wrk with our arguments, no shell
        command, env=env, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{done.stdout}{done.stderr}")
    return parse_wrk_output(done.stdout)
