"""The ids of the trace being served, for what is correlated with it: log lines, problem
documents and metric exemplars. No span is ever current while tracing is off, so then they
find none."""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace


def current_trace_id() -> str | None:
    """The current trace's id (32 hex digits), sampled or not, if a span is current."""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def sampled_trace_exemplar() -> dict[str, str] | None:
    """A Prometheus exemplar naming the current trace, if it is one the backend will have."""
    context = trace.get_current_span().get_span_context()
    if not (context.is_valid and context.trace_flags.sampled):
        return None
    return {"trace_id": f"{context.trace_id:032x}"}


def stamp_trace_ids() -> None:
    """Make every log record written while a span is current carry its trace and span ids
    (and whether the trace is sampled), stamped when the record is made, as request ids are."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "stamps_trace_ids", False):
        return

    def make_stamped_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = f"{context.trace_id:032x}"
            record.span_id = f"{context.span_id:016x}"
            record.trace_sampled = context.trace_flags.sampled
        return record

    make_stamped_record.stamps_trace_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_stamped_record)
