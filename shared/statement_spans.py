"""SQL statements in the trace: OpenTelemetry's SQLAlchemy instrumentation, attached to one
engine, for the statements of sampled traces only (used while tracing is on)."""

from __future__ import annotations

from typing import Any

import opentelemetry.instrumentation.sqlalchemy as sqlalchemy_instrumentation
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeter
from opentelemetry.trace import TracerProvider
from sqlalchemy.engine import Engine

from shared.trace_ids import is_recording_trace


class _SampledStatementTracer(EngineTracer):
    """OpenTelemetry's SQLAlchemy instrumentation, for the statements of sampled traces only.

    As it comes, it starts a span (and works out its attributes) for every statement, sampled
    or not, and counts pool checkouts in a metric: on `GET /orders/{id}` that is much of
    tracing's cost. Statements outside a sampled trace, and the pool, are left alone here.
    (Its hooks are private: a test that every statement of a traced request is a span
    notices if a release renames them.)
    """

    def _before_cur_exec(self, *args: Any) -> Any:
        if not is_recording_trace():
            _, _, statement, parameters, *_ = args
            return statement, parameters
        return super()._before_cur_exec(*args)  # type: ignore[no-untyped-call]

    def _add_idle_to_connection_usage(self, value: int) -> None:
        pass

    def _add_used_to_connection_usage(self, value: int) -> None:
        pass


def trace_sampled_statements(engine: Engine, provider: TracerProvider) -> None:
    """Spans for the statements of sampled traces that `engine` runs.

    Attached to this engine alone: the instrumentor would also patch SQLAlchemy's
    `create_engine` for the whole process, once.
    """
    _SampledStatementTracer(  # type: ignore[no-untyped-call]  # the instrumentation's
        provider.get_tracer(sqlalchemy_instrumentation.__name__),
        engine,
        connections_usage=NoOpMeter("unused").create_up_down_counter("unused"),
    )
