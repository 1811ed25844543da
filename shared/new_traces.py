"""New traces, decided before any span exists.

A request that brings no caller's trace context starts a trace. Whether that trace is
recorded is decided here from the trace id drawn for it, by the ratio sampler's own rule
(`TraceIdRatioBased`, at the share of new traces the configured sampler keeps), before any
span is made. Most new traces are not recorded (99 in 100 by default), and their server span
is the API's `NonRecordingSpan`: no SDK span at all, which would cost some 6 µs a request,
a quarter of what tracing adds to a request the gateway does not sample (bench/README.md,
"Tracing").

A recorded one is started by the SDK with the very id it was decided by (the tracer
provider's ids come from here), so the configured sampler, deciding on that id by the same
rule, records it too, and so does every other service whose sampler goes by the trace id.
"""

from __future__ import annotations

from contextvars import ContextVar

from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags, Tracer

# Not sampled; the trace id is random (W3C Trace Context Level 2), as the SDK's flags say too.
_NOT_SAMPLED = TraceFlags(TraceFlags.RANDOM_TRACE_ID)
# A new trace has no parent, whatever is current where the server runs (and the SDK need not
# look for one).
NO_PARENT = Context()


class NewTraces(RandomIdGenerator):
    """The tracer provider's ids, and the server spans of requests that start a trace."""

    def __init__(self, ratio: float) -> None:
        self._bound = TraceIdRatioBased.get_bound_for_rate(ratio)
        # The id a new trace was decided by, while the SDK starts its span.
        self._decided_trace_id: ContextVar[int | None] = ContextVar("decided", default=None)

    def start_server_span(self, tracer: Tracer, name: str) -> Span:
        """A new trace's server span: recorded by the SDK, or the API's non-recording span."""
        trace_id = super().generate_trace_id()
        if trace_id & TraceIdRatioBased.TRACE_ID_LIMIT >= self._bound:
            return NonRecordingSpan(
                SpanContext(
                    trace_id, self.generate_span_id(), is_remote=False, trace_flags=_NOT_SAMPLED
                )
            )
        token = self._decided_trace_id.set(trace_id)
        try:
            return tracer.start_span(name, NO_PARENT, kind=SpanKind.SERVER)
        finally:
            self._decided_trace_id.reset(token)

    def generate_trace_id(self) -> int:
        decided = self._decided_trace_id.get()
        return super().generate_trace_id() if decided is None else decided
