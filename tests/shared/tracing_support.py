"""Tracing as the services start it, exporting to a test's OTLP receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.settings import TraceSampler, TracingSettings
from shared.tracing import Tracing, start_tracing
from tests.support.otlp import OtlpReceiver, otlp_receiver

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CLIENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN_ID = "b7ad6b7169203331"


def tracing_settings(
    receiver: OtlpReceiver, sampler: TraceSampler = "parentbased_always_on"
) -> TracingSettings:
    return TracingSettings(
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.traces_url, OTEL_TRACES_SAMPLER=sampler
    )


def traced(receiver: OtlpReceiver, sampler: TraceSampler = "parentbased_always_on") -> Tracing:
    tracing = start_tracing(tracing_settings(receiver, sampler), "test_service")
    assert tracing is not None
    return tracing


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as receiver:
        yield receiver


def trace_id_of(traceresponse: str) -> str:
    version, trace_id, _, _ = traceresponse.split("-")
    assert version == "00"
    return trace_id
