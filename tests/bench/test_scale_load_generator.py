"""The scale benchmark's load: wrk for a set time, or for as long as something else takes."""

from __future__ import annotations

import time

from starlette.types import Receive, Scope, Send

from bench.scale.load_generator import Requests, requests_running
from tests.support.servers import running_server


def test_a_run_lasts_until_it_is_stopped_and_reports_what_it_measured() -> None:
    received: list[str] = []

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with running_server(counting) as base_url:
        # Far longer than the test: only `stop` can end the run in time.
        with requests_running(
            Requests(base_url, ["/a", "/b"]), connections=2, longest=3600
        ) as stop:
            deadline = time.monotonic() + 60
            while len(received) < 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            measured = stop()
        sent = len(received)

    assert measured.errors == 0
    assert 200 <= measured.requests <= sent
    assert set(received) == {"/a", "/b"}
