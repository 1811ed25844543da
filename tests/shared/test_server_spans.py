"""Every request a server span, exported over OTLP to a real receiver: named by its route
template, continuing the caller's trace (a malformed `traceparent` replaced), its trace
returned in `traceresponse`, and flushed when the app shuts down."""

from __future__ import annotations

import re

import pytest

from tests.shared.conftest import build_frame_app, client_for
from tests.shared.tracing_support import (
    CLIENT_SPAN_ID,
    CLIENT_TRACE_ID,
    TRACEPARENT,
    receiver,
    trace_id_of,
    traced,
)
from tests.support.otlp import OtlpReceiver

__all__ = ["receiver"]  # the fixture

TRACERESPONSE = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


async def test_a_request_is_a_server_span_named_by_its_route_template(
    receiver: OtlpReceiver,
) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        response = await client.get("/widgets/7", headers={"X-Request-ID": "req-7"})

    [span] = receiver.spans
    assert span.name == "GET /widgets/{widget_id}"
    assert span.kind == "SERVER"
    assert span.is_root
    assert span.service == "test_service"
    assert span.attributes["http.route"] == "/widgets/{widget_id}"
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["url.path"] == "/widgets/7"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["http.response.header.x-request-id"] == ["req-7"]
    assert not span.is_error
    # Flags: sampled, and (W3C Trace Context Level 2) a random trace id.
    assert response.headers["traceresponse"] == f"00-{span.trace_id}-{span.span_id}-03"


async def test_spans_ended_just_before_shutdown_reach_the_receiver(
    receiver: OtlpReceiver,
) -> None:
    # The batch processor exports every 5 s by default: only the lifespan's flush sends them
    # this soon.
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        for widget_id in range(3):
            await client.get(f"/widgets/{widget_id}")
        assert receiver.spans == []

    assert len(receiver.spans) == 3


async def test_a_callers_traceparent_is_continued(receiver: OtlpReceiver) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        response = await client.get(
            "/widgets/1", headers={"traceparent": TRACEPARENT, "tracestate": "vendor=value"}
        )

    [span] = receiver.spans
    assert span.trace_id == CLIENT_TRACE_ID
    assert span.parent_span_id == CLIENT_SPAN_ID
    assert trace_id_of(response.headers["traceresponse"]) == CLIENT_TRACE_ID


@pytest.mark.parametrize(
    "traceparent",
    [
        "garbage",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",  # no flags
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # all-zero parent id
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # a forbidden version
        "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",  # upper case
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "00-" + "a" * 600,
    ],
    ids=[
        "garbage",
        "no-flags",
        "zero-trace",
        "zero-parent",
        "version-ff",
        "upper",
        "extra",
        "long",
    ],
)
async def test_a_malformed_traceparent_is_replaced_by_a_new_trace(
    receiver: OtlpReceiver, traceparent: str
) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        response = await client.get("/widgets/1", headers={"traceparent": traceparent})

    assert response.status_code == 200
    [span] = receiver.spans
    assert span.is_root
    assert span.trace_id not in traceparent.lower()
    assert TRACERESPONSE.fullmatch(response.headers["traceresponse"])
    assert trace_id_of(response.headers["traceresponse"]) == span.trace_id


async def test_a_caller_that_did_not_sample_is_followed_but_answered_with_the_trace(
    receiver: OtlpReceiver,
) -> None:
    unsampled = TRACEPARENT.removesuffix("01") + "00"
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        response = await client.get("/widgets/1", headers={"traceparent": unsampled})

    assert receiver.spans == []
    assert response.headers["traceresponse"].startswith(f"00-{CLIENT_TRACE_ID}-")
    assert response.headers["traceresponse"].endswith("-00")


async def test_a_server_error_marks_its_span_failed(receiver: OtlpReceiver) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        response = await client.get("/boom")

    assert response.status_code == 500
    [span] = receiver.spans
    assert span.name == "GET /boom"
    assert span.is_error
    assert span.attributes["error.type"] == "500"


async def test_an_unmatched_path_is_named_by_its_method_alone(receiver: OtlpReceiver) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        await client.get("/no/such/path/42")

    [span] = receiver.spans
    assert span.name == "GET"
    assert "http.route" not in span.attributes


async def test_probes_and_scrapes_are_not_traced(receiver: OtlpReceiver) -> None:
    async with client_for(build_frame_app(tracing=traced(receiver))) as client:
        for path in ("/health/live", "/health/ready", "/metrics"):
            response = await client.get(path)
            assert response.status_code == 200
            assert "traceresponse" not in response.headers

    assert receiver.spans == []


async def test_with_tracing_off_no_response_tells_of_a_trace(receiver: OtlpReceiver) -> None:
    async with client_for(build_frame_app(tracing=None)) as client:
        response = await client.get("/widgets/1", headers={"traceparent": TRACEPARENT})

    assert "traceresponse" not in response.headers
    assert receiver.spans == []


async def test_a_new_trace_not_kept_is_answered_with_its_trace_and_exports_nothing(
    receiver: OtlpReceiver,
) -> None:
    tracing = traced(receiver, sampler="parentbased_always_off")
    async with client_for(build_frame_app(tracing=tracing)) as client:
        first = await client.get("/widgets/1")
        second = await client.get("/widgets/2")

    assert receiver.spans == []
    # Not sampled, and (W3C Trace Context Level 2) a random trace id; a new trace each.
    assert TRACERESPONSE.fullmatch(first.headers["traceresponse"])
    assert first.headers["traceresponse"].endswith("-02")
    assert trace_id_of(first.headers["traceresponse"]) != trace_id_of(
        second.headers["traceresponse"]
    )
