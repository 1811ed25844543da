"""The order service's part of a trace: its server span, a span per SQL statement (the text,
never the parameters), and a trace for each round of its housekeeping."""

from __future__ import annotations

import uuid

import pytest

from order_service.app import create_app
from order_service.config import OrdersSettings
from tests.order_service.conftest import Catalogue, place_order
from tests.shared.tracing_support import TRACEPARENT, receiver, trace_id_of
from tests.support.apps import app_client
from tests.support.otlp import OtlpReceiver
from tests.support.servers import eventually

__all__ = ["receiver"]  # the fixture


def _traced(settings: OrdersSettings, receiver: OtlpReceiver) -> OrdersSettings:
    return settings.model_copy(
        update={
            "otel_exporter_otlp_traces_endpoint": receiver.traces_url,
            "otel_traces_sampler": "parentbased_always_on",
        }
    )


async def test_every_statement_of_a_request_is_a_span_of_it_without_its_parameters(
    orders_settings: OrdersSettings,
    receiver: OtlpReceiver,
    admin: dict[str, str],
    alice: dict[str, str],
) -> None:
    async with app_client(
        create_app(_traced(orders_settings, receiver)), "http://o.test"
    ) as client:
        product = await Catalogue(client, admin).add(stock=5)
        placed = await place_order(client, alice, (product, 2))
        order_id = placed.json()["id"]
        read = await client.get(
            f"/orders/{order_id}", headers={**alice, "traceparent": TRACEPARENT}
        )

    assert read.status_code == 200
    spans = receiver.trace(trace_id_of(read.headers["traceresponse"]))
    [server] = [span for span in spans if span.kind == "SERVER"]
    assert server.name == "GET /orders/{order_id}"
    assert server.service == "order_service"
    statements = [span for span in spans if span.parent_span_id == server.span_id]
    assert statements
    for statement in statements:
        assert statement.kind == "CLIENT"
        assert statement.attributes["db.system"] in {"postgresql", "sqlite"}
        assert statement.name.split()[0] in {"SELECT", "BEGIN", "COMMIT", "ROLLBACK"}
        assert "SELECT" in statement.attributes["db.statement"] or statement.name != "SELECT"
    # Nothing a request sent, or a row held, is in a statement's span: only its text.
    sql = repr([span.attributes for span in receiver.spans if "db.system" in span.attributes])
    assert order_id not in sql
    assert uuid.UUID(order_id).hex not in sql
    assert product["sku"] not in sql


async def test_each_round_of_housekeeping_is_a_trace_with_its_statements(
    orders_settings: OrdersSettings, receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # milliseconds: read by the SDK
    # The first round runs at start-up.
    async with app_client(create_app(_traced(orders_settings, receiver)), "http://o.test"):
        await eventually(lambda: bool(receiver.named("delete_expired_records")), "the first round")

    [job] = receiver.named("delete_expired_records")
    assert job.is_root
    statements = [span for span in receiver.trace(job.trace_id) if span is not job]
    assert "DELETE" in {span.name.split()[0] for span in statements}
    assert all(span.parent_span_id == job.span_id for span in statements)


async def test_readiness_checks_are_not_traced(
    orders_settings: OrdersSettings, receiver: OtlpReceiver
) -> None:
    settings = orders_settings.model_copy(update={"housekeeping_interval_seconds": 3600})
    async with app_client(create_app(_traced(settings, receiver)), "http://o.test") as client:
        assert (await client.get("/health/ready")).status_code == 200

    # Only the housekeeping round that started with the service (if it got to run at all).
    traced = {span.name for span in receiver.spans if span.is_root}
    assert traced <= {"delete_expired_records"}
