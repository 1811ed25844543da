"""wrk with `requests.lua`: `bench/wrk.py`'s request and result, going round several paths
and, for keyed orders, a new Idempotency-Key per request; for a set time, or until stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.wrk import Measurement, parse_wrk_output, wrk_command

_BENCH = Path(__file__).resolve().parent.parent
_SCRIPT = Path(__file__).with_name("requests.lua")
# The shortest run `requests_running` makes.
SHORTEST_SECONDS = 1.0


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


def _command(requests: Requests, *, seconds: float, connections: int) -> list[str]:
    url = requests.base_url + requests.paths[0]
    return wrk_command(_SCRIPT, url, seconds=seconds, connections=connections)


def _environment(requests: Requests) -> dict[str, str]:
    return {
        **os.environ,
        "BENCH_BASE_SCRIPT": str(_BENCH / "load.lua"),
        "BENCH_METHOD": requests.method,
        "BENCH_BODY": requests.body,
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in requests.headers.items()),
        "BENCH_PATHS": "\n".join(requests.paths),
        "BENCH_BODIES": "\n".join(requests.bodies),
        "BENCH_UNIQUE_KEYS": "1" if requests.unique_keys else "0",
    }


def _measured(returncode: int, stdout: str, stderr: str) -> Measurement:
    if returncode != 0:
        raise RuntimeError(f"wrk failed:\n{stdout}{stderr}")
    return parse_wrk_output(stdout)


def run_requests(requests: Requests, *, seconds: float, connections: int) -> Measurement:
    """One bounded run of wrk."""
    done = subprocess.run(  # noqa: S603 - wrk with our arguments, no shell
        _command(requests, seconds=seconds, connections=connections),
        env=_environment(requests),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    return _measured(done.returncode, done.stdout, done.stderr)


@contextmanager
def requests_running(
    requests: Requests, *, connections: int, longest: float
) -> Iterator[Callable[[], Measurement]]:
    """wrk sending `requests` from the block's start until the returned `stop()` is called
    (or `longest` seconds have passed), which returns what it measured: a run as long as
    something else takes (a second at least). wrk stops at SIGINT and reports as at its
    deadline."""
    wrk = subprocess.Popen(  # noqa: S603 - wrk with our arguments, no shell
        _command(requests, seconds=longest, connections=connections),
        env=_environment(requests),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()

    def stop() -> Measurement:
        # wrk takes SIGINT as its deadline once it runs; just started, it would die of it.
        time.sleep(max(0.0, SHORTEST_SECONDS - (time.monotonic() - started)))
        wrk.send_signal(signal.SIGINT)
        stdout, stderr = wrk.communicate(timeout=30)
        return _measured(wrk.returncode, stdout, stderr)

    try:
        yield stop
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
