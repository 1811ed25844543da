"""The scale benchmark's load: wrk for a set time, or for as long as something else takes."""

from __future__ import annotations

from bench.scale.load_generator import Requests, requests_running
from tests.support.servers import answering_empty, running_server, wait_until


def test_a_run_lasts_until_it_is_stopped_and_reports_what_it_measured() -> None:
    received: list[str] = []

    with running_server(answering_empty(received)) as base_url:
        # Far longer than the test: only `stop` can end the run in time.
        requests = Requests(base_url, ["/a", "/b"])
        with requests_running(requests, connections=2, longest=3600) as stop:
            wait_until(lambda: len(received) >= 200, 60, "200 requests")
            measured = stop()
        sent = len(received)

    assert measured.errors == 0
    assert 200 <= measured.requests <= sent
    assert set(received) == {"/a", "/b"}
