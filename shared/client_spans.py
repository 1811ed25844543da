"""Outgoing HTTP requests in the trace: an httpx transport that wraps any other.

Within a sampled trace each request gets a CLIENT span, and the upstream continues the trace
from it (`traceparent` and `tracestate` in the request's headers, replacing whatever the
headers held: a proxied client's own are superseded by the gateway's span). Within a trace
that is not sampled only the headers are set, so that the next service keeps the same trace
id and the same decision. Outside any trace (start-up, a background refresh) the request
goes as it is.

It stands in for `opentelemetry-instrumentation-httpx`'s transport, which starts a span and
builds its and its metrics' attributes for every request, sampled or not: some 75 µs a
request, a quarter of the gateway's whole CPU per request (bench/README.md, "Tracing").
"""

from __future__ import annotations

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from shared.trace_ids import RenderedTrace, current_request_trace, is_recording_trace


def carry_trace_context(headers: httpx.Headers, caller: RenderedTrace) -> None:
    """`caller`'s trace context in `headers`, instead of any there was (what the W3C
    propagator's `inject` writes)."""
    headers["traceparent"] = caller.traceparent.decode()
    if caller.tracestate is not None:
        headers["tracestate"] = caller.tracestate.decode()
    elif "tracestate" in headers:
        del headers["tracestate"]


def _unsampled_caller() -> RenderedTrace | None:
    """The trace an unsampled call belongs to: its request's, or the current span's."""
    if (request := current_request_trace()) is not None:
        return request
    context = trace.get_current_span().get_span_context()
    return RenderedTrace.of(context) if context.is_valid else None


class TracedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, transport: httpx.AsyncBaseTransport, tracer: Tracer, *, peer_service: str
    ) -> None:
        self.transport = transport
        self.tracer = tracer
        # Who is called, in the platform's words (`auth`, `orders`): `peer.service`.
        self.peer_service = peer_service

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not is_recording_trace():
            if (caller := _unsampled_caller()) is not None:
                carry_trace_context(request.headers, caller)
            return await self.transport.handle_async_request(request)

        url = request.url
        with self.tracer.start_as_current_span(
            request.method,
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": request.method,
                "url.full": str(url),
                "server.address": url.host,
                "server.port": url.port or (443 if url.scheme == "https" else 80),
                "peer.service": self.peer_service,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            carry_trace_context(request.headers, RenderedTrace.of(span.get_span_context()))
            try:
                response = await self.transport.handle_async_request(request)
            except Exception as error:
                span.set_attribute("error.type", type(error).__qualname__)
                span.set_status(StatusCode.ERROR)
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(StatusCode.ERROR)
            return response

    async def aclose(self) -> None:
        await self.transport.aclose()
