"""A proxied request as a trace: the gateway's server span, its steps (the token check, the
rate limit, the circuit) and the upstream call as children, exported to a real OTLP
receiver; the trace context sent upstream in place of the client's."""

from __future__ import annotations

import itertools
import uuid
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.config import GatewaySettings
from shared.settings import TraceSampler
from tests.gateway.conftest import EchoUpstream, dead_url, gateway_client
from tests.gateway.test_rate_limit import REDIS_URL
from tests.shared.tracing_support import (
    CLIENT_SPAN_ID,
    CLIENT_TRACE_ID,
    TRACEPARENT,
    receiver,
    trace_id_of,
)
from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.tokens import TokenFactory

__all__ = ["receiver"]  # the fixture


def traced_settings(
    settings: GatewaySettings,
    receiver: OtlpReceiver,
    sampler: TraceSampler = "parentbased_always_on",
) -> GatewaySettings:
    return settings.model_copy(
        update={
            "otel_exporter_otlp_traces_endpoint": receiver.traces_url,
            "otel_traces_sampler": sampler,
        }
    )


def traced_gateway(
    settings: GatewaySettings,
    receiver: OtlpReceiver,
    sampler: TraceSampler = "parentbased_always_on",
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The gateway, tracing; its spans are all exported once the block exits."""
    return gateway_client(create_app(traced_settings(settings, receiver, sampler)))


@pytest.fixture
def bearer(tokens: TokenFactory) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(uuid.uuid4())}"}


def _upstream_header(upstream: EchoUpstream, name: str) -> str | None:
    return next((value for key, value in upstream.headers_of() if key == name), None)


def _calls_to_orders(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """The calls of proxied requests (not the key fetches from the auth service)."""
    return [
        span
        for span in spans
        if span.kind == "CLIENT" and span.attributes.get("peer.service") == "orders"
    ]


def _children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> dict[str, ReceivedSpan]:
    return {span.name: span for span in spans if span.parent_span_id == parent.span_id}


async def test_a_proxied_request_is_a_trace_of_the_gateways_steps_and_the_upstream_call(
    settings: GatewaySettings,
    receiver: OtlpReceiver,
    upstream: EchoUpstream,
    bearer: dict[str, str],
    each_upstream_transport: str,
) -> None:
    async with traced_gateway(settings, receiver) as gateway:
        response = await gateway.get("/orders/42?limit=5", headers=bearer)

    assert response.status_code == 200
    spans = receiver.spans
    [server] = [span for span in spans if span.is_root]
    assert {span.trace_id for span in spans} == {server.trace_id}
    assert server.name == "GET /orders/{path:path}"
    assert server.service == "gateway"
    assert server.attributes["http.response.status_code"] == 200
    steps = _children(spans, server)
    assert set(steps) == {"authenticate", "rate limit", "circuit", "GET"}
    assert steps["authenticate"].attributes["gateway.auth.outcome"] == "verified"
    assert steps["rate limit"].attributes == {
        "gateway.rate_limit.bucket": "user",
        "gateway.rate_limit.store": "memory",
        "gateway.rate_limit.allowed": True,
        "gateway.rate_limit.remaining": settings.rate_limit_burst - 1,
    }
    assert steps["circuit"].attributes == {
        "gateway.upstream": "orders",
        "gateway.circuit.state": "closed",
        "gateway.circuit.admitted": True,
    }
    upstream_call = steps["GET"]
    assert upstream_call.kind == "CLIENT"
    assert upstream_call.attributes["peer.service"] == "orders"
    assert upstream_call.attributes["url.full"].endswith("/orders/42?limit=5")
    assert upstream_call.attributes["http.response.status_code"] == 200
    # The steps in order, each done before the next begins.
    ordered = [steps[name] for name in ("authenticate", "rate limit", "circuit", "GET")]
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.end_ns <= later.start_ns
    # The upstream continues the trace from the gateway's call.
    traceparent = _upstream_header(upstream, "traceparent")
    assert traceparent is not None
    assert traceparent.startswith(f"00-{server.trace_id}-{upstream_call.span_id}-")
    assert response.headers["traceresponse"].startswith(f"00-{server.trace_id}-{server.span_id}")


async def test_the_first_token_fetches_the_keys_within_its_trace(
    settings: GatewaySettings, receiver: OtlpReceiver, bearer: dict[str, str]
) -> None:
    async with traced_gateway(settings, receiver) as gateway:
        first = await gateway.get("/orders/1", headers=bearer)
        second = await gateway.get("/orders/2", headers=bearer)

    first_trace = receiver.trace(trace_id_of(first.headers["traceresponse"]))
    [check] = [span for span in first_trace if span.name == "authenticate"]
    [fetch] = _children(first_trace, check).values()
    assert fetch.kind == "CLIENT"
    assert fetch.attributes["peer.service"] == "auth"
    assert fetch.attributes["url.full"].endswith("/.well-known/jwks.json")
    second_trace = receiver.trace(trace_id_of(second.headers["traceresponse"]))
    assert [span.name for span in second_trace if span.kind == "CLIENT"] == ["GET"]


async def test_a_clients_trace_is_continued_through_the_gateway(
    settings: GatewaySettings,
    receiver: OtlpReceiver,
    upstream: EchoUpstream,
    bearer: dict[str, str],
) -> None:
    async with traced_gateway(settings, receiver) as gateway:
        response = await gateway.get(
            "/orders/1", headers={**bearer, "traceparent": TRACEPARENT, "tracestate": "vendor=1"}
        )

    [server] = [span for span in receiver.spans if span.kind == "SERVER"]
    [upstream_call] = _calls_to_orders(receiver.spans)
    assert server.trace_id == CLIENT_TRACE_ID
    assert server.parent_span_id == CLIENT_SPAN_ID
    sent = _upstream_header(upstream, "traceparent")
    assert sent is not None
    assert sent.startswith(f"00-{CLIENT_TRACE_ID}-{upstream_call.span_id}-")
    assert _upstream_header(upstream, "tracestate") == "vendor=1"
    # One `traceresponse`, the gateway's: the upstream's own never reaches the client.
    assert response.headers.get_list("traceresponse") == [
        f"00-{CLIENT_TRACE_ID}-{server.span_id}-01"
    ]


async def test_a_malformed_traceparent_is_replaced_on_its_way_upstream(
    settings: GatewaySettings,
    receiver: OtlpReceiver,
    upstream: EchoUpstream,
    bearer: dict[str, str],
) -> None:
    async with traced_gateway(settings, receiver) as gateway:
        response = await gateway.get(
            "/orders/1", headers={**bearer, "traceparent": "00-garbage", "tracestate": "vendor=1"}
        )

    assert response.status_code == 200
    [server] = [span for span in receiver.spans if span.kind == "SERVER"]
    assert server.is_root
    sent = _upstream_header(upstream, "traceparent")
    assert sent is not None
    assert sent.startswith(f"00-{server.trace_id}-")
    assert _upstream_header(upstream, "tracestate") is None


async def test_a_request_not_sampled_still_sends_its_trace_upstream(
    settings: GatewaySettings,
    receiver: OtlpReceiver,
    upstream: EchoUpstream,
    bearer: dict[str, str],
) -> None:
    async with traced_gateway(settings, receiver, "parentbased_always_off") as gateway:
        response = await gateway.get("/orders/1", headers=bearer)

    assert receiver.spans == []
    trace_id = trace_id_of(response.headers["traceresponse"])
    sent = _upstream_header(upstream, "traceparent")
    assert sent is not None
    assert sent.startswith(f"00-{trace_id}-")
    assert int(sent.rsplit("-", 1)[1], 16) & 1 == 0  # not sampled


async def test_a_clients_trace_not_sampled_goes_upstream_once_with_the_gateways_span(
    settings: GatewaySettings,
    receiver: OtlpReceiver,
    upstream: EchoUpstream,
    bearer: dict[str, str],
) -> None:
    not_sampled = TRACEPARENT.removesuffix("-01") + "-00"
    async with traced_gateway(settings, receiver) as gateway:
        response = await gateway.get(
            "/orders/1", headers={**bearer, "traceparent": not_sampled, "tracestate": "vendor=1"}
        )

    assert response.status_code == 200
    assert receiver.spans == []
    # The gateway's server span is the parent, in the client's trace: the very context it
    # tells the client, sent once, with the client's vendor state.
    told = response.headers["traceresponse"]
    assert told.startswith(f"00-{CLIENT_TRACE_ID}-")
    sent = [value for name, value in upstream.headers_of() if name == "traceparent"]
    assert sent == [told]
    assert [value for name, value in upstream.headers_of() if name == "tracestate"] == ["vendor=1"]


async def test_without_tracing_the_gateway_passes_the_trace_context_on_as_it_came(
    gateway: httpx.AsyncClient, upstream: EchoUpstream, bearer: dict[str, str]
) -> None:
    response = await gateway.get(
        "/orders/1", headers={**bearer, "traceparent": TRACEPARENT, "tracestate": "vendor=1"}
    )

    assert _upstream_header(upstream, "traceparent") == TRACEPARENT
    assert _upstream_header(upstream, "tracestate") == "vendor=1"
    assert "traceresponse" not in response.headers


async def test_a_refused_token_is_a_trace_of_the_refusal(
    settings: GatewaySettings, receiver: OtlpReceiver, upstream: EchoUpstream
) -> None:
    async with traced_gateway(settings, receiver) as gateway:
        response = await gateway.get("/orders/1")

    assert response.status_code == 401
    assert upstream.requests == []
    [server] = [span for span in receiver.spans if span.is_root]
    assert not server.is_error  # the client's mistake, not the gateway's
    steps = _children(receiver.spans, server)
    assert set(steps) == {"authenticate", "rate limit"}
    assert steps["authenticate"].attributes == {
        "gateway.auth.outcome": "refused",
        "gateway.auth.reason": "missing token",
    }
    assert steps["rate limit"].attributes["gateway.rate_limit.bucket"] == "address"
    assert response.json()["trace_id"] == server.trace_id


async def test_each_attempt_at_an_unreachable_upstream_is_a_failed_span(
    settings: GatewaySettings, receiver: OtlpReceiver, bearer: dict[str, str]
) -> None:
    unreachable = settings.model_copy(update={"orders_url": dead_url()})
    async with traced_gateway(unreachable, receiver) as gateway:
        response = await gateway.get("/orders/1", headers=bearer)

    assert response.status_code == 502
    [server] = [span for span in receiver.spans if span.is_root]
    assert server.is_error
    attempts = _calls_to_orders(receiver.spans)
    assert len(attempts) == 2  # sent once more: nothing was sent the first time
    for attempt in attempts:
        assert attempt.is_error
        assert attempt.attributes["error.type"] == "ConnectError"


async def test_the_upstream_duration_has_the_trace_as_exemplar(
    settings: GatewaySettings, receiver: OtlpReceiver, bearer: dict[str, str]
) -> None:
    async with traced_gateway(settings, receiver) as gateway:
        response = await gateway.get("/orders/1", headers=bearer)
        metrics = await gateway.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )

    exemplars = [
        sample.exemplar.labels
        for family in text_string_to_metric_families(metrics.text)  # type: ignore[no-untyped-call]
        for sample in family.samples
        if sample.name == "gateway_upstream_duration_seconds_bucket" and sample.exemplar
    ]
    assert exemplars == [{"trace_id": trace_id_of(response.headers["traceresponse"])}]


async def test_redis_commands_are_spans_of_the_rate_limit(
    settings: GatewaySettings, receiver: OtlpReceiver, bearer: dict[str, str]
) -> None:
    with_redis = settings.model_copy(update={"redis_url": REDIS_URL})
    async with traced_gateway(with_redis, receiver) as gateway:
        response = await gateway.get("/orders/1", headers=bearer)

    assert response.status_code == 200
    [limit] = receiver.named("rate limit")
    assert limit.attributes["gateway.rate_limit.store"] == "redis"
    [command] = _children(receiver.spans, limit).values()
    assert command.kind == "CLIENT"
    assert command.name in {"EVALSHA", "EVAL", "SCRIPT"}
    assert command.attributes["db.system"] == "redis"
    # The command, never its arguments (the bucket's key names the user).
    assert set(command.attributes["db.statement"].split()[1:]) == {"?"}
