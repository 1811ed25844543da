"""Load from a separate process: wrk, driven by `load.lua`, which reports one JSON line."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = Path(__file__).with_name("load.lua")
_RESULT_MARK = "BENCH_RESULT "


@dataclass(frozen=True)
class Load:
    """What to send: one request, repeated by every connection as fast as it is answered, or,
    with a `rate`, at that many requests per second over all the connections, evenly spaced.
    In a header's value, `{unique}` is replaced by a text no other request of any run has."""

    url: str
    method: str = "GET"
    body: str = ""
    headers: Mapping[str, str] | None = None
    rate: float | None = None


@dataclass(frozen=True)
class Measurement:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def parse_wrk_output(output: str) -> Measurement:
    """The measurement in wrk's output; every error wrk counts (a connection refused or
    reset, a timeout, a status outside 2xx/3xx) is an error."""
    for line in output.splitlines():
        if line.startswith(_RESULT_MARK):
            result = json.loads(line.removeprefix(_RESULT_MARK))
            latency = result["latency_us"]
            return Measurement(
                requests=result["requests"],
                seconds=result["duration_us"] / 1e6,
                errors=sum(result["errors"].values()),
                p50_ms=latency["p50"] / 1000,
                p90_ms=latency["p90"] / 1000,
                p99_ms=latency["p99"] / 1000,
            )
    raise ValueError(f"wrk reported no result:\n{output}")


def wrk_command(script: Path, url: str, *, seconds: float, connections: int) -> list[str]:
    """wrk with `script` at `url` for `seconds` on `connections`, in one thread: the cores are
    shared with what it measures."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("the benchmark needs wrk: `make bench-tools` installs it")
    return [
        wrk,
        "--threads", "1",
        "--connections", str(connections),
        "--duration", f"{max(1, round(seconds))}s",
        "--timeout", "5s",
        "--script", str(script),
        url,
    ]  # fmt: skip


def run_wrk(load: Load, *, seconds: float, connections: int) -> Measurement:
    """One bounded run of wrk (one thread: the cores are shared with what it measures)."""
    env = {
        **os.environ,
        "BENCH_METHOD": load.method,
        "BENCH_BODY": load.body,
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in (load.headers or {}).items()),
        # With the request's number in the run, what `{unique}` becomes.
        "BENCH_RUN_ID": secrets.token_hex(8),
    }
    if load.rate is not None:
        env["BENCH_RATE"] = repr(float(load.rate))
    else:
        env.pop("BENCH_RATE", None)  # not the shell's
    command = wrk_command(_SCRIPT, load.url, seconds=seconds, connections=connections)
    done = subprocess.run(  # noqa: S603 - wrk with our arguments, no shell
        command, env=env, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed:\n{done.stdout}{done.stderr}")
    return parse_wrk_output(done.stdout)
