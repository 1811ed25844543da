"""The trace being served, for what is correlated with it: log lines, problem documents,
metric exemplars and the trace context sent on.

A request's server span (`shared.server_spans`) renders its trace once, as a `RenderedTrace`,
and everything the request does reads that from one context variable, instead of walking
OpenTelemetry's context and span again for each question. Outside a request (a periodic job, the
relay) the answers come from the current span, if any. No span is ever current while tracing
is off, so then they find none.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

from opentelemetry import trace
from opentelemetry.trace import SpanContext, TraceFlags


class RenderedTrace(NamedTuple):
    """A span's trace and the span in it, rendered once: ids, decision, W3C headers."""

    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    is_sampled: bool
    # The span as the parent of the next (W3C Trace Context), and the trace's vendor state.
    traceparent: bytes
    tracestate: bytes | None

    @classmethod
    def of(cls, context: SpanContext) -> RenderedTrace:
        flags = context.trace_flags
        # Formatted once: the ids are its slices.
        traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
        state = context.trace_state
        return cls(
            traceparent[3:35],
            traceparent[36:52],
            bool(flags & TraceFlags.SAMPLED),
            traceparent.encode(),
            state.to_header().encode() if state else None,
        )


_request_trace: ContextVar[RenderedTrace | None] = ContextVar("request_trace", default=None)


def serving(request_trace: RenderedTrace) -> Token[RenderedTrace | None]:
    """Make `request_trace` (its server span's) the trace being served, until the token is
    reset."""
    return _request_trace.set(request_trace)


def finished_serving(token: Token[RenderedTrace | None]) -> None:
    _request_trace.reset(token)


def current_request_trace() -> RenderedTrace | None:
    """The trace of the request being served by this task, if any (and tracing is on)."""
    return _request_trace.get()


def current_trace_id() -> str | None:
    """The current trace's id (32 hex digits), sampled or not, if there is one."""
    if (request := _request_trace.get()) is not None:
        return request.trace_id
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def is_recording_trace() -> bool:
    """Whether what runs now is in a sampled trace, whose spans are recorded."""
    if (request := _request_trace.get()) is not None:
        return request.is_sampled
    return trace.get_current_span().is_recording()


def sampled_trace_exemplar() -> dict[str, str] | None:
    """A Prometheus exemplar naming the request's trace, if it is one the backend will have."""
    request = _request_trace.get()
    if request is None or not request.is_sampled:
        return None
    return {"trace_id": request.trace_id}


def stamp_trace_ids() -> None:
    """Make every log record written within a trace carry its trace and span ids (and whether
    the trace is sampled), stamped when the record is made, as request ids are.

    Within a sampled trace the span is the innermost current one; within a request that is not
    sampled, its server span (nothing under it is exported).
    """
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "stamps_trace_ids", False):
        return

    def make_stamped_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        request = _request_trace.get()
        if request is not None and not request.is_sampled:
            record.trace_id = request.trace_id
            record.span_id = request.span_id
            record.trace_sampled = False
            return record
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = f"{context.trace_id:032x}"
            record.span_id = f"{context.span_id:016x}"
            record.trace_sampled = context.trace_flags.sampled
        return record

    make_stamped_record.stamps_trace_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_stamped_record)
