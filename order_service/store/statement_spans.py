"""The store's statements on Postgres in the trace: a CLIENT span for each statement of a
sampled trace, named and described as OpenTelemetry's SQLAlchemy instrumentation describes
the statements SQLAlchemy runs (`SELECT orders`, `db.statement` with placeholders, never the
parameters), so that a trace reads the same whichever runs them.

Not the asyncpg instrumentation package: it patches asyncpg's connection class for the whole
process and starts a span for every statement, sampled or not; statements outside a sampled
trace cost nothing here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import SpanKind, Tracer
from sqlalchemy.engine import URL

from order_service.store.sql import Params, PostgresConnection, Query, Row, RowsInsert
from shared.trace_ids import is_recording_trace

_NO_PARAMS: Params = {}


class StatementSpans:
    """Starts the span of a statement, within a sampled trace only."""

    def __init__(self, tracer: Tracer, url: URL) -> None:
        self._tracer = tracer
        self._database = url.database or ""
        self._attributes: dict[str, Any] = {"db.system": "postgresql", "db.name": self._database}
        if url.host:
            self._attributes["net.peer.name"] = url.host
        if url.port:
            self._attributes["net.peer.port"] = url.port

    @contextmanager
    def span(self, sql: str) -> Iterator[None]:
        if not is_recording_trace():
            yield
            return
        name = f"{sql.split(maxsplit=1)[0]} {self._database}".rstrip()
        attributes = {**self._attributes, "db.statement": sql}
        with self._tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
            yield


class TracedPostgresConnection(PostgresConnection):
    """A `PostgresConnection` whose statements are spans of the trace they run in."""

    __slots__ = ("_spans",)

    def __init__(self, driver: Any, spans: StatementSpans) -> None:
        super().__init__(driver)
        self._spans = spans

    async def fetch(self, query: Query, params: Params = _NO_PARAMS) -> Sequence[Row]:
        with self._spans.span(query.sql):
            return await super().fetch(query, params)

    async def fetchrow(self, query: Query, params: Params = _NO_PARAMS) -> Row | None:
        with self._spans.span(query.sql):
            return await super().fetchrow(query, params)

    async def fetchval(self, query: Query, params: Params = _NO_PARAMS) -> Any:
        with self._spans.span(query.sql):
            return await super().fetchval(query, params)

    async def execute(self, query: Query, params: Params = _NO_PARAMS) -> int:
        with self._spans.span(query.sql):
            return await super().execute(query, params)

    async def executemany(self, query: Query, rows: Sequence[Params]) -> None:
        with self._spans.span(query.sql):
            await super().executemany(query, rows)

    async def insert_rows(self, insert: RowsInsert, rows: Sequence[Params]) -> None:
        with self._spans.span(insert.for_rows(len(rows)).sql):
            await super().insert_rows(insert, rows)
