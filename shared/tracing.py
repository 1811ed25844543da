"""Tracing with OpenTelemetry: one tracer provider per process, exporting spans in batches
over OTLP (HTTP/protobuf) to the collector the settings name.

With no exporter configured, `start_tracing` returns None and nothing is traced: no
middleware, no instrumented client or engine, no span ever started. Every part that traces
takes the `Tracing` (or None) from its app's factory; nothing here is global but the log
record factory, which only reads.

A process starts it in one line, and its spans are flushed when the block exits:

    async with flushed_at_exit(start_tracing(settings, "order_service")) as tracing:
        ...

An app's factory starts it (its middleware needs it) and its lifespan flushes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AbstractAsyncContextManager
from types import TracebackType

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Tracer

from shared.new_traces import NewTraces
from shared.settings import TracingSettings
from shared.trace_ids import stamp_trace_ids

# What a graceful shutdown waits for the last spans to reach the collector, at most: inside
# the time an orchestrator allows between its stop signal and a kill, after the requests'
# drain (Kubernetes: 30 s, of which 25 s go to preStop and the drain).
_FLUSH_TIMEOUT_MILLIS = 4000


def sampler_of(settings: TracingSettings) -> Sampler:
    """The sampler `OTEL_TRACES_SAMPLER` names, with `OTEL_TRACES_SAMPLER_ARG` as its ratio."""
    roots: dict[str, Sampler] = {
        "traceidratio": TraceIdRatioBased(settings.otel_traces_sampler_arg),
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
    }
    name = settings.otel_traces_sampler
    if name.startswith("parentbased_"):
        return ParentBased(roots[name.removeprefix("parentbased_")])
    return roots[name]


def new_trace_ratio(settings: TracingSettings) -> float:
    """The share of new traces (no caller's decision to follow) the configured sampler keeps."""
    ratios = {"traceidratio": settings.otel_traces_sampler_arg, "always_on": 1.0, "always_off": 0.0}
    return ratios[settings.otel_traces_sampler.removeprefix("parentbased_")]


class Tracing:
    """The process's tracer provider, for the parts that trace; an async context manager
    that flushes and shuts it down at exit."""

    def __init__(self, provider: TracerProvider, new_traces: NewTraces) -> None:
        self.provider = provider
        # Its ids, and the server spans of requests that start a trace.
        self.new_traces = new_traces

    def tracer(self, name: str) -> Tracer:
        return self.provider.get_tracer(name)

    async def __aenter__(self) -> Tracing:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()

    async def shutdown(self) -> None:
        """Export what is still queued, then stop; in a thread, as the exporter blocks."""
        await asyncio.to_thread(self.provider.force_flush, _FLUSH_TIMEOUT_MILLIS)
        await asyncio.to_thread(self.provider.shutdown)


def start_tracing(settings: TracingSettings, service: str) -> Tracing | None:
    """The process's tracing if an OTLP endpoint is configured, else None."""
    url = settings.otlp_traces_url
    if url is None:
        return None
    # Imported here: the exporter (protobuf, requests) adds some 2.5 MiB to every process that
    # loads it, and a process that does not trace never needs it.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    new_traces = NewTraces(new_trace_ratio(settings))
    provider = TracerProvider(
        sampler=sampler_of(settings),
        id_generator=new_traces,
        resource=Resource.create({SERVICE_NAME: settings.otel_service_name or service}),
        # Shut down by the lifespan (or `flushed_at_exit`), not at interpreter exit.
        shutdown_on_exit=False,
    )
    # The exporter reads the rest of its settings (headers, timeout, compression) from the
    # standard variables itself; the processor reads `OTEL_BSP_*`.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    stamp_trace_ids()
    return Tracing(provider, new_traces)


def flushed_at_exit(tracing: Tracing | None) -> AbstractAsyncContextManager[Tracing | None]:
    """`tracing` itself, or nothing to do when tracing is off."""
    return tracing if tracing is not None else contextlib.nullcontext()
