from __future__ import annotations

import pytest

from bench.wrk import parse_wrk_output

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
