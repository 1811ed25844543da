from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from starlette.types import Receive, Scope, Send

from bench.wrk import Load, parse_wrk_output, run_wrk
from tests.support.servers import answering_empty, running_server

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8000/orders/1
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.41ms  312.00us   9.87ms   91.02%
  16000 requests in 5.00s, 9.11MB read
BENCH_RESULT {"requests": 16000, "duration_us": 5000000, "errors": {"connect": 0, \
"read": 1, "write": 0, "status": 2, "timeout": 3}, "latency_us": {"p50": 2400, "p90": 2700, \
"p99": 3900, "max": 9870}}
"""


def test_the_result_line_becomes_a_measurement() -> None:
    measured = parse_wrk_output(WRK_OUTPUT)

    assert measured.rps == 3200
    assert (measured.p50_ms, measured.p90_ms, measured.p99_ms) == (2.4, 2.7, 3.9)
    assert measured.errors == 6  # every kind wrk counts, non-2xx/3xx statuses included


def test_output_without_a_result_is_an_error() -> None:
    with pytest.raises(ValueError, match="no result"):
        parse_wrk_output("unable to connect to 127.0.0.1:8000 Connection refused")


@pytest.mark.skipif(not shutil.which("wrk"), reason="needs wrk (make bench-tools installs it)")
def test_a_unique_header_value_differs_for_every_request_of_every_run() -> None:
    keys: list[str] = []
    other: set[str] = set()

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        keys.append(headers[b"idempotency-key"].decode())
        other.add(headers[b"x-fixed"].decode())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    load = Load("", headers={"Idempotency-Key": '"bench-{unique}"', "X-Fixed": "same"})
    with running_server(recording) as base_url:
        runs = [
            run_wrk(replace(load, url=base_url + "/"), seconds=1, connections=2) for _ in range(2)
        ]

    assert sum(run.requests for run in runs) <= len(keys)
    assert len(set(keys)) == len(keys) > 2
    assert all(key.startswith('"bench-') and key.endswith('"') for key in keys)
    assert other == {"same"}


@pytest.mark.skipif(not shutil.which("wrk"), reason="needs wrk (make bench-tools installs it)")
def test_a_paced_load_is_sent_no_faster_than_its_rate_over_all_connections() -> None:
    received: list[str] = []

    with running_server(answering_empty(received)) as base_url:
        paced = run_wrk(Load(base_url + "/", rate=4), seconds=1, connections=4)
        sent_paced = len(received)
        unpaced = run_wrk(Load(base_url + "/"), seconds=1, connections=4)

    # A slot every 250 ms, one clock for the four connections: five in the second at most
    # (the first at once); unpaced, each connection sends again as soon as it is answered.
    assert 0 < paced.requests <= sent_paced <= 5
    assert unpaced.requests > 5 * sent_paced
