"""One request across the platform: the three services as processes, tracing every request
to a real OTLP receiver; placing an order through the gateway is one trace, from the
gateway's server span through its steps and its upstream call to the order service's server
span and its statements. A client's own trace is continued, a malformed one replaced, and
spans still queued when a service is stopped reach the receiver."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Stack,
    database_urls,
    new_user,
    running_stack,
    sign_in,
)
from tests.e2e.trace_picture import TRACED_ENV, order_two_mugs, trace_of
from tests.support.otlp import OtlpReceiver, ReceivedSpan, otlp_receiver
from tests.support.servers import free_port, wait_until

SVG = "{http://www.w3.org/2000/svg}"

# A client's trace, as the W3C example writes it.
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
# The server spans of `GET /products/{id}` through the gateway.
PRODUCT_READ = (
    ("gateway", "GET /products/{path:path}"),
    ("order_service", "GET /products/{product_id}"),
)


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def traced_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("traced")
    tracing = TRACED_ENV | {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_url}
    with (
        database_urls("postgres", request, workdir) as (auth_url, orders_url),
        running_stack(workdir, auth_url, orders_url, tracing) as stack,
    ):
        yield stack


@pytest.fixture(scope="module")
def client(traced_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=traced_stack.gateway_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def product(client: httpx.Client) -> dict[str, str]:
    admin = sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    response = client.post(
        "/products",
        json={"sku": "TRACE-MUG", "name": "Mug", "price": "12.50", "stock": 100},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    return created


def only(spans: list[ReceivedSpan], **where: str) -> ReceivedSpan:
    [span] = [s for s in spans if all(getattr(s, key) == value for key, value in where.items())]
    return span


def test_placing_an_order_is_one_trace_across_the_gateway_and_the_order_service(
    client: httpx.Client, receiver: OtlpReceiver, product: dict[str, str], traced_stack: Stack
) -> None:
    alice = new_user(client)

    placed = client.post(
        "/orders", json={"items": [{"product_id": product["id"], "quantity": 2}]}, headers=alice
    )

    assert placed.status_code == 201, placed.text
    spans = trace_of(
        receiver, placed, ("gateway", "POST /orders"), ("order_service", "POST /orders")
    )
    # One tree: one root, and every other span's parent is in the trace.
    ids = {span.span_id for span in spans}
    [root] = [span for span in spans if span.is_root]
    assert all(span.parent_span_id in ids for span in spans if span is not root)

    assert (root.service, root.kind, root.name) == ("gateway", "SERVER", "POST /orders")
    steps = {span.name: span for span in spans if span.parent_span_id == root.span_id}
    assert set(steps) == {"authenticate", "rate limit", "circuit", "POST"}
    upstream_call = steps["POST"]
    assert upstream_call.kind == "CLIENT"
    assert upstream_call.attributes["peer.service"] == "orders"

    orders = only(spans, service="order_service", kind="SERVER")
    assert orders.name == "POST /orders"
    assert orders.parent_span_id == upstream_call.span_id
    statements = [span for span in spans if span.parent_span_id == orders.span_id]
    assert {span.name.split()[0] for span in statements} >= {"INSERT", "UPDATE"}
    for statement in statements:
        assert statement.service == "order_service"
        assert statement.kind == "CLIENT"
        assert statement.attributes["db.system"] == "postgresql"
    assert {span.service for span in spans} == {"gateway", "order_service"}

    # Each service's log line about the request names the trace.
    trace_id = root.trace_id
    for service, span in (("gateway", root), ("orders", orders)):
        [line] = [
            entry
            for entry in map(json.loads, traced_stack.log_of(service).splitlines())
            if entry.get("event") == "request" and entry.get("trace_id") == trace_id
        ]
        assert line["span_id"] == span.span_id
        assert line["request_id"] == placed.headers["x-request-id"]


def test_the_readmes_picture_draws_every_span_of_the_walk_throughs_trace(
    client: httpx.Client, receiver: OtlpReceiver, product: dict[str, str]
) -> None:
    svg = order_two_mugs(client, receiver)

    document = ElementTree.fromstring(svg)  # noqa: S314 - our own document
    [heading, summary] = [text.text or "" for text in document.iter(f"{SVG}text")][:2]
    trace_id = summary.split()[1]
    spans = receiver.trace(trace_id)
    assert heading.startswith("POST /orders")
    bars = [rect for rect in document.iter(f"{SVG}rect") if rect.get("rx")]
    assert len(bars) == len(spans)
    assert "gateway · POST /orders [server]" in svg
    assert "order_service · POST /orders [server]" in svg


def test_a_clients_trace_is_continued_to_the_last_service(
    client: httpx.Client, receiver: OtlpReceiver, product: dict[str, str]
) -> None:
    alice = new_user(client)

    response = client.get(
        f"/products/{product['id']}",
        headers={**alice, "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    )

    assert response.status_code == 200
    assert response.headers["traceresponse"].startswith(f"00-{TRACE_ID}-")
    spans = trace_of(receiver, response, *PRODUCT_READ)
    gateway = only(spans, service="gateway", kind="SERVER")
    orders = only(spans, service="order_service", kind="SERVER")
    assert gateway.parent_span_id == PARENT_ID
    assert only(spans, span_id=orders.parent_span_id or "").service == "gateway"


@pytest.mark.parametrize(
    "traceparent",
    ["not a traceparent", f"00-{TRACE_ID}-{PARENT_ID}", f"00-{'0' * 32}-{PARENT_ID}-01"],
    ids=["garbage", "no-flags", "zero-trace-id"],
)
def test_a_malformed_traceparent_starts_a_new_trace_across_the_platform(
    client: httpx.Client, receiver: OtlpReceiver, product: dict[str, str], traceparent: str
) -> None:
    alice = new_user(client)

    response = client.get(
        f"/products/{product['id']}", headers={**alice, "traceparent": traceparent}
    )

    assert response.status_code == 200
    spans = trace_of(receiver, response, *PRODUCT_READ)
    assert only(spans, service="gateway", kind="SERVER").is_root
    assert spans[0].trace_id not in (TRACE_ID, "0" * 32)


def test_spans_still_queued_when_a_service_is_stopped_reach_the_receiver(
    tmp_path: Path, auth_database_url: str
) -> None:
    port = free_port()
    with otlp_receiver() as receiver:
        env = {
            "AUTH_PORT": str(port),
            "AUTH_DATABASE_URL": auth_database_url,
            "AUTH_DEVELOPMENT_KEY_FILE": str(tmp_path / "signing-key.pem"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_url,
            "OTEL_TRACES_SAMPLER": "always_on",
            # Ten minutes: only the shutdown's flush can send the spans in time.
            "OTEL_BSP_SCHEDULE_DELAY": "600000",
            "PATH": "/usr/bin:/bin",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "auth_service", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
            wait_until(lambda: _answers(url), 60, "the auth service")
            process.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then ends by the signal it was sent.
            assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        finally:
            process.kill()

        assert "GET /.well-known/jwks.json" in {span.name for span in receiver.spans}


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False
