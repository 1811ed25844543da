"""`python -m tests.e2e.trace_picture [OUT]`: the README's picture of a walk-through trace,
drawn from real spans. The three services run as processes, as the end-to-end tests run
them, tracing every request to an OTLP receiver; Alice orders two mugs through the gateway;
that request's trace, as the receiver got it, is drawn as a waterfall into OUT
(`docs/walkthrough-trace.svg` by default). Needs a Postgres as the tests do
(`TEST_DATABASE_URL`)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, new_user, running_stack, sign_in
from tests.support.otlp import OtlpReceiver, ReceivedSpan, otlp_receiver
from tests.support.postgres import Databases, postgres_server
from tests.support.servers import wait_until
from tests.support.waterfall import render_waterfall

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "walkthrough-trace.svg"
# Every new trace kept, and exported within a tenth of a second (with the receiver's endpoint).
TRACED_ENV = {"OTEL_TRACES_SAMPLER": "parentbased_always_on", "OTEL_BSP_SCHEDULE_DELAY": "100"}
EXPORT_TIMEOUT_SECONDS = 30.0


def trace_of(
    receiver: OtlpReceiver, response: httpx.Response, *expected: tuple[str, str]
) -> list[ReceivedSpan]:
    """The spans of the response's trace, once the (service, name) expected have arrived."""
    trace_id = response.headers["traceresponse"].split("-")[1]

    def arrived() -> bool:
        received = {(span.service, span.name) for span in receiver.trace(trace_id)}
        return set(expected) <= received

    wait_until(arrived, EXPORT_TIMEOUT_SECONDS, f"the spans {expected} of trace {trace_id}")
    return receiver.trace(trace_id)


def order_two_mugs(client: httpx.Client, receiver: OtlpReceiver) -> str:
    """The walk-through's order, through the gateway; the SVG of its trace."""
    admin = sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    product = client.post(
        "/products",
        json={"sku": "MUG-1", "name": "Mug", "price": "12.50", "stock": 10},
        headers=admin,
    ).json()
    alice = new_user(client)
    placed = client.post(
        "/orders", json={"items": [{"product_id": product["id"], "quantity": 2}]}, headers=alice
    )
    placed.raise_for_status()
    spans = trace_of(
        receiver, placed, ("gateway", "POST /orders"), ("order_service", "POST /orders")
    )
    return render_waterfall(spans, "POST /orders through the gateway: one trace")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    with (
        postgres_server() as admin_url,
        tempfile.TemporaryDirectory() as workdir,
        otlp_receiver() as receiver,
    ):
        databases = Databases(admin_url)
        auth_db, orders_db = databases.create("picture_auth"), databases.create("picture_orders")
        try:
            env = TRACED_ENV | {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.base_url}
            urls = (databases.url_of(auth_db), databases.url_of(orders_db))
            with (
                running_stack(Path(workdir), *urls, env) as stack,
                httpx.Client(base_url=stack.gateway_url, timeout=10) as client,
            ):
                out.write_text(order_two_mugs(client, receiver))
        finally:
            databases.drop(auth_db)
            databases.drop(orders_db)
    sys.stdout.write(f"wrote {out}\n")


if __name__ == "__main__":
    main()
