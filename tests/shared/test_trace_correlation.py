"""What leads from an answer, a log line or a metric to its trace: `trace_id` in problem
documents and log lines, exemplars on the request-duration histogram (OpenMetrics only)."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from shared.logging import JsonFormatter
from tests.shared.conftest import build_frame_app, client_for
from tests.shared.tracing_support import CLIENT_TRACE_ID, TRACEPARENT, receiver, traced
from tests.support.otlp import OtlpReceiver

__all__ = ["receiver"]  # the fixture

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


async def test_a_problem_document_names_its_trace(receiver: OtlpReceiver) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        response = await client.get("/conflict", headers={"traceparent": TRACEPARENT})

    assert response.status_code == 409
    body = response.json()
    assert body["trace_id"] == CLIENT_TRACE_ID
    assert body["request_id"] == response.headers["x-request-id"]


async def test_the_last_resort_500_names_its_trace(receiver: OtlpReceiver) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        response = await client.get("/boom", headers={"traceparent": TRACEPARENT})

    assert response.status_code == 500
    assert response.json()["trace_id"] == CLIENT_TRACE_ID


async def test_a_trace_that_is_not_sampled_is_named_all_the_same(receiver: OtlpReceiver) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver, "always_off"))) as client:
        response = await client.get("/widgets/not-a-number")

    assert response.status_code == 422
    assert response.json()["trace_id"] == response.headers["traceresponse"].split("-")[1]


async def test_without_tracing_a_problem_document_has_no_trace_id() -> None:
    async with client_for(build_frame_app(tracing=None)) as client:
        response = await client.get("/conflict", headers={"traceparent": TRACEPARENT})

    assert response.status_code == 409
    assert "trace_id" not in response.json()


async def test_log_lines_written_in_a_span_carry_its_trace_and_span_ids(
    receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.access")
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        await client.get("/widgets/7", headers={"traceparent": TRACEPARENT})

    [span] = receiver.spans
    [record] = [r for r in caplog.records if r.name == "shared.access"]
    line = json.loads(JsonFormatter("frame").format(record))
    assert line["trace_id"] == CLIENT_TRACE_ID
    assert line["span_id"] == span.span_id
    assert line["trace_sampled"] is True


async def test_log_lines_of_a_request_not_sampled_carry_its_trace_and_server_span(
    receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.access")
    async with client_for(build_frame_app(tracing=traced(receiver, "always_off"))) as client:
        response = await client.get("/widgets/7")

    _, trace_id, span_id, flags = response.headers["traceresponse"].split("-")
    assert int(flags, 16) & 1 == 0
    [record] = [r for r in caplog.records if r.name == "shared.access"]
    line = json.loads(JsonFormatter("frame").format(record))
    assert (line["trace_id"], line["span_id"], line["trace_sampled"]) == (trace_id, span_id, False)


async def test_log_lines_outside_any_span_carry_no_trace_id(
    receiver: OtlpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    traced(receiver)  # the record factory is installed

    logging.getLogger("test").info("outside")

    [record] = [r for r in caplog.records if r.name == "test"]
    assert "trace_id" not in json.loads(JsonFormatter("frame").format(record))


def _exemplars(text: str, sample_name: str) -> list[dict[str, str]]:
    return [
        sample.exemplar.labels
        for family in text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
        for sample in family.samples
        if sample.name == sample_name and sample.exemplar is not None
    ]


async def test_a_sampled_requests_duration_has_its_trace_as_exemplar(
    receiver: OtlpReceiver,
) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        await client.get("/widgets/7", headers={"traceparent": TRACEPARENT})
        response = await client.get("/metrics", headers={"Accept": OPENMETRICS})

    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")
    assert _exemplars(response.text, "http_request_duration_seconds_bucket") == [
        {"trace_id": CLIENT_TRACE_ID}
    ]


async def test_requests_not_sampled_leave_no_exemplar(receiver: OtlpReceiver) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver, "always_off"))) as client:
        await client.get("/widgets/7")
        response = await client.get("/metrics", headers={"Accept": OPENMETRICS})

    assert _exemplars(response.text, "http_request_duration_seconds_bucket") == []


async def test_the_classic_text_format_is_the_default(receiver: OtlpReceiver) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        await client.get("/widgets/7")
        response = await client.get("/metrics")

    assert response.headers["content-type"].startswith("text/plain")
    assert "# EOF" not in response.text
    assert "trace_id" not in response.text
