"""A server span for every HTTP request, as one pure ASGI middleware, outermost.

The caller's W3C `traceparent` (and `tracestate`) is continued; a missing or malformed one
starts a new trace, never an error. The span is named by the route template that served the
request (`GET /orders/{order_id}`; the gateway's route table's for proxied requests), known
once the app is done. Every response tells its trace in `traceresponse` (W3C Trace Context
Level 2; what OpenTelemetry's `TraceResponsePropagator` writes), so that a client can name the
trace of any answer it got. Probes and scrapes are not traced, nor what they do (a readiness
check's SQL).

It stands in for `opentelemetry-instrumentation-asgi`, which builds every attribute and
metric of a request before it knows whether its span records: some 45 µs a request, sampled
or not, a seventh of the gateway's whole CPU per request (bench/README.md, "Tracing"). Here a
request that is not sampled costs a look for a `traceparent`, the decision and a context
switch: a new trace that is not kept gets no SDK span at all (`shared.new_traces`), and
attributes are built only for spans that record. The span's trace is rendered once
(`shared.trace_ids.RenderedTrace`), for `traceresponse` and for everything the request does
that names its trace.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.new_traces import NO_PARENT
from shared.trace_ids import RenderedTrace, finished_serving, serving
from shared.tracing import Tracing

RawHeaders = Iterable[tuple[bytes, bytes]]

_UNTRACED_PATH_PREFIXES = ("/health/", "/metrics")
# The propagator's own bound; it would log a warning for every longer one a client sends.
_MAX_TRACEPARENT_LENGTH = 512
# W3C trace context only: baggage from clients is not believed, nor passed on.
W3C_TRACE_CONTEXT = TraceContextTextMapPropagator()


class _RawHeaderGetter(Getter[RawHeaders]):
    """Reads the trace context from ASGI's raw headers (names lower-case)."""

    def get(self, carrier: RawHeaders, key: str) -> list[str] | None:
        name = key.encode()
        values = [
            value.decode("latin-1")
            for header, value in carrier
            if header == name and len(value) <= _MAX_TRACEPARENT_LENGTH
        ]
        return values or None

    def keys(self, carrier: RawHeaders) -> list[str]:
        return [header.decode("latin-1") for header, _ in carrier]


_RAW_HEADERS = _RawHeaderGetter()


def _callers_context(headers: RawHeaders) -> Context:
    """The trace context a caller sent, if it sent one (most send none: nothing to parse),
    else `NO_PARENT`."""
    for name, _ in headers:
        if name == b"traceparent":
            return W3C_TRACE_CONTEXT.extract(headers, NO_PARENT, getter=_RAW_HEADERS)
    return NO_PARENT


def _describe_request(span: Span, scope: Scope) -> None:
    client = scope.get("client")
    user_agent = next((v for k, v in scope["headers"] if k == b"user-agent"), None)
    span.set_attributes(
        {
            "http.request.method": scope["method"],
            "url.scheme": scope["scheme"],
            "url.path": scope["path"],
            "network.protocol.version": scope.get("http_version", "1.1"),
            **({"client.address": client[0]} if client else {}),
            **({"user_agent.original": user_agent.decode("latin-1")} if user_agent else {}),
        }
    )


def _describe_response(span: Span, message: Message) -> None:
    status: int = message["status"]
    span.set_attribute("http.response.status_code", status)
    request_id = next((v for k, v in message.get("headers", ()) if k == b"x-request-id"), None)
    if request_id is not None:
        span.set_attribute("http.response.header.x-request-id", [request_id.decode("latin-1")])
    if status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(StatusCode.ERROR)


def _name_by_route(span: Span, scope: Scope) -> None:
    template = getattr(scope.get("route"), "path", None)
    if template is not None:
        span.set_attribute("http.route", template)
        span.update_name(f"{scope['method']} {template}")


class ServerSpanMiddleware:
    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self.tracer = tracing.tracer(__name__)
        self.new_traces = tracing.new_traces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Probes and scrapes are not traced, nor is what they do: statements and calls are
        # spans only within a sampled trace.
        if scope["type"] != "http" or scope["path"].startswith(_UNTRACED_PATH_PREFIXES):
            await self.app(scope, receive, send)
            return

        parent = _callers_context(scope["headers"])
        if parent is NO_PARENT:
            span = self.new_traces.start_server_span(self.tracer, scope["method"])
        else:
            span = self.tracer.start_span(scope["method"], parent, kind=SpanKind.SERVER)
        # Current for what the request does (an instrumented call within it is a child span,
        # recorded or not as this one is), and its trace rendered once for everything that
        # names it. (`traceresponse` is added where every response's own headers are: the
        # request context's middleware, inside this one.)
        context_token = context.attach(trace.set_span_in_context(span, parent))
        serving_token = serving(RenderedTrace.of(span.get_span_context()))
        try:
            if span.is_recording():
                await self._record(span, scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            finished_serving(serving_token)
            context.detach(context_token)

    async def _record(self, span: Span, scope: Scope, receive: Receive, send: Send) -> None:
        _describe_request(span, scope)
        is_answered = False

        async def send_described(message: Message) -> None:
            nonlocal is_answered
            if message["type"] == "http.response.start":
                is_answered = True
                _describe_response(span, message)
            await send(message)

        try:
            await self.app(scope, receive, send_described)
        except BaseException as error:
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(StatusCode.ERROR)
            raise
        finally:
            if not is_answered:
                # The client went away first, or nothing answered at all.
                span.set_attribute("error.type", "incomplete_response")
            _name_by_route(span, scope)
            span.end()
