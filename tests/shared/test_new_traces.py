"""New traces are decided before any span exists, exactly as the configured sampler decides
on their trace ids; the ones not kept get no SDK span at all."""

from __future__ import annotations

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import INVALID_SPAN_ID, NonRecordingSpan, SpanKind

from shared.settings import TraceSampler, TracingSettings
from shared.tracing import Tracing, sampler_of, start_tracing

DRAWS = 200


def _settings(sampler: TraceSampler = "parentbased_traceidratio") -> TracingSettings:
    # Nothing is exported: no span here is ever ended.
    return TracingSettings(
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
        OTEL_TRACES_SAMPLER=sampler,
        OTEL_TRACES_SAMPLER_ARG=0.5,
    )


def _started(settings: TracingSettings) -> Tracing:
    tracing = start_tracing(settings, "test_service")
    assert tracing is not None
    return tracing


@pytest.mark.parametrize(
    "sampler",
    [
        "parentbased_traceidratio",
        "traceidratio",
        "parentbased_always_on",
        "always_on",
        "parentbased_always_off",
        "always_off",
    ],
)
def test_a_new_trace_is_kept_exactly_when_the_configured_sampler_keeps_its_trace_id(
    sampler: TraceSampler,
) -> None:
    settings = _settings(sampler)
    tracing = _started(settings)
    tracer = tracing.tracer(__name__)
    configured = sampler_of(settings)

    kept = []
    for _ in range(DRAWS):
        span = tracing.new_traces.start_server_span(tracer, "GET")
        trace_id = span.get_span_context().trace_id
        decision = configured.should_sample(Context(), trace_id, "GET", SpanKind.SERVER).decision
        is_kept = decision is Decision.RECORD_AND_SAMPLE
        assert span.is_recording() == is_kept
        assert span.get_span_context().trace_flags.sampled == is_kept
        kept.append(span.is_recording())

    expected = {"always_on": {True}, "always_off": {False}}.get(
        sampler.removeprefix("parentbased_"), {True, False}
    )
    assert set(kept) == expected  # half of 200 at random: both, all but surely


def test_a_kept_new_trace_is_an_sdk_root_span_and_one_not_kept_no_sdk_span_at_all() -> None:
    tracing = _started(_settings())
    tracer = tracing.tracer(__name__)

    spans = [tracing.new_traces.start_server_span(tracer, "GET") for _ in range(DRAWS)]

    kept = [span for span in spans if span.is_recording()]
    dropped = [span for span in spans if not span.is_recording()]
    assert kept
    assert dropped
    for span in kept:
        assert isinstance(span, ReadableSpan)
        assert span.parent is None
        assert span.kind is SpanKind.SERVER
    for span in dropped:
        assert type(span) is NonRecordingSpan
        context = span.get_span_context()
        assert context.is_valid
        assert context.span_id != INVALID_SPAN_ID
        assert not context.is_remote
        assert context.trace_flags.random_trace_id
    # Every one a trace of its own; ids drawn outside a decision are random as ever.
    assert len({span.get_span_context().trace_id for span in spans}) == DRAWS
    assert tracing.new_traces.generate_trace_id() not in {
        span.get_span_context().trace_id for span in spans
    }
